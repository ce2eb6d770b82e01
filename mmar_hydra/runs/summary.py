"""A Hydra callback that writes a sweep summary when ``-m`` ends.

One row per job: its overrides, best key metric, its epoch and the training time, read from
the job's MMAR-shaped run folder. Written as ``summary.csv`` / ``summary.md`` in the sweep dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

__all__ = ["SweepSummary"]


class SweepSummary(Callback):
    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        from omegaconf import OmegaConf

        from mmar_hydra.runs.collect import load_run
        from mmar_hydra.runs.compare import write_table

        sweep = Path(str(config.hydra.sweep.dir))
        rows = []
        for job in sorted(
            (p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()),
            key=lambda p: int(p.name),
        ):
            overrides_file = job / ".hydra" / "overrides.yaml"
            overrides = OmegaConf.load(overrides_file) if overrides_file.is_file() else []
            run = load_run(job / "mmar", name=job.name) if (job / "mmar").is_dir() else None
            stats = run.stats if run else {}
            rows.append(
                {
                    "job": job.name,
                    "overrides": " ".join(str(o).lstrip("+") for o in overrides),
                    "best key metric": stats.get("best_key_metric"),
                    "metric": stats.get("key_metric_name"),
                    "best epoch": stats.get("best_key_metric_epoch"),
                    "train time (s)": stats.get("total_time"),
                    "status": run.status if run else "no run folder",
                }
            )
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
