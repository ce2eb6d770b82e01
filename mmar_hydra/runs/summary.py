"""A Hydra callback that writes a sweep summary when ``-m`` ends.

One row per job: its overrides, best key metric, its epoch, the training time and the status,
read from the job's MMAR-shaped run folder and its ``job.json`` (:mod:`.job_outcome`). A job
that failed is ``failed``, with its one-line message in the ``error`` column. Written as
``summary.csv`` / ``summary.md`` in the sweep dir. :func:`last_sweep` tells the CLI, in the
process that ran the sweep, which jobs failed (so it exits non-zero).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from mmar_hydra.runs.collect import load_run
from mmar_hydra.runs.compare import write_table
from mmar_hydra.runs.job_outcome import read_outcome

__all__ = ["SweepSummary", "last_sweep", "job_status"]

# what the last sweep of this process ended with: {"dir": Path, "jobs": N, "failed": [...]}
_LAST_SWEEP: dict[str, Any] = {}


def last_sweep() -> dict[str, Any]:
    """The sweep this process ran last: its folder, job count and failed jobs (job, error, code)."""
    return dict(_LAST_SWEEP)


def job_status(outcome: dict[str, Any] | None, run: Any) -> str:
    """A job's status: ``failed`` from its outcome record, else its run folder's, else the record's."""
    if outcome and outcome.get("status") == "failed":
        return "failed"
    if run is not None:
        return run.status
    return str(outcome["status"]) if outcome else "no run folder"


class SweepSummary(Callback):
    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        _LAST_SWEEP.clear()

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        from omegaconf import OmegaConf

        sweep = Path(str(config.hydra.sweep.dir))
        rows: list[dict[str, Any]] = []
        failed: list[tuple[str, Any, int]] = []
        for job in sorted(
            (p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()),
            key=lambda p: int(p.name),
        ):
            overrides_file = job / ".hydra" / "overrides.yaml"
            outcome = read_outcome(job)
            overrides = (
                OmegaConf.load(overrides_file)
                if overrides_file.is_file()
                else (outcome or {}).get("overrides", [])
            )
            run = load_run(job / "mmar", name=job.name) if (job / "mmar").is_dir() else None
            stats = run.stats if run else {}
            status = job_status(outcome, run)
            if status == "failed":
                record = outcome or {}
                failed.append((job.name, record.get("error"), int(record.get("exit_code") or 1)))
            rows.append(
                {
                    "job": job.name,
                    "overrides": " ".join(str(o).lstrip("+") for o in overrides),
                    "best key metric": stats.get("best_key_metric"),
                    "metric": stats.get("key_metric_name"),
                    "best epoch": stats.get("best_key_metric_epoch"),
                    "train time (s)": stats.get("total_time"),
                    "status": status,
                    "error": (outcome or {}).get("error") or "",
                }
            )
        _LAST_SWEEP.update(dir=sweep, jobs=len(rows), failed=failed)
        if not rows:
            return
        # the overrides every job shares say nothing about the difference between jobs
        shared = set.intersection(*(set(r["overrides"].split()) for r in rows))
        for row in rows:
            row["overrides"] = " ".join(o for o in row["overrides"].split() if o not in shared)
        columns = list(rows[0])
        csv_path, _, text = write_table(columns, rows, sweep)
        csv_path.rename(sweep / "summary.csv")
        (sweep / "compare.md").rename(sweep / "summary.md")
        print(f"\nsweep summary ({sweep / 'summary.csv'}):\n{text}")
        if failed:
            print(
                f"{len(failed)} of {len(rows)} jobs failed: " + ", ".join(j for j, _, _ in failed)
            )
