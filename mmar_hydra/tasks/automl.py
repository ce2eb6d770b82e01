"""``task=automl``: Clara AutoML's search over a ``trn_autoML_*.json``, trial by trial.

1. the search space (the config's ``search`` blocks, :mod:`mmar_hydra.reader.search_space`) and the
   plan (``config/config_automl.json``: budget, stop threshold, trials kept), with the
   command line's ``automl.*`` on top;
2. seeded TPE asks for a sample; the trial is written as an MMAR,
   ``<mmar>/automl/<run_id>/trial_<i>/`` (:mod:`mmar_hydra.automl.trial_mmar`), and trained in
   this process by the ordinary ``task=train`` on that MMAR, composed by Hydra; its best key
   metric goes back to TPE;
3. trials are ranked, those beyond ``num_mmars_to_keep`` pruned, the best copied to
   ``best/`` (a normal MMAR), the report written (:mod:`mmar_hydra.automl.report`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

from mmar_hydra import hydra_config
from mmar_hydra.automl.controller import SAMPLER, AutoMLPlan, read_plan
from mmar_hydra.automl.describe import describe_sample
from mmar_hydra.automl.report import TrialResult, prune_trials, rank_trials, write_report
from mmar_hydra.automl.sampler import TrialSampler, distributions
from mmar_hydra.automl.search import run_search, search_options
from mmar_hydra.automl.shared import results_of, run_shared_search, shared_spec
from mmar_hydra.automl.trial_mmar import TRIAL_RECORD, write_trial_mmar
from mmar_hydra.context import TaskContext
from mmar_hydra.errors import ConfigError, MMARError, report
from mmar_hydra.hydra_config import _framework_keys, in_multirun
from mmar_hydra.reader.jsonfile import load_json
from mmar_hydra.reader.mmar_reader import read_mmar
from mmar_hydra.reader.search_apply import apply_sample
from mmar_hydra.reader.search_space import parse_space
from mmar_hydra.runs.job_outcome import one_line
from mmar_hydra.tasks import train
from mmar_hydra.writers.atomic import atomic_write_text

__all__ = ["run", "CONTROLLER_FILE"]

CONTROLLER_FILE = "config/config_automl.json"
# settings a trial's train job takes from the search's command line (the rest are the search's)
_SEARCH_KEYS = ("mmar", "task", "config_file", "env_file", "automl", "print_conf")


def _plan(ctx: TaskContext) -> tuple[Any, str]:

    rel = str((ctx.settings.automl or {}).get("controller") or CONTROLLER_FILE)
    path = ctx.mmar_root / rel
    if not path.is_file():
        if rel != CONTROLLER_FILE:
            raise ConfigError(
                "AutoML controller config not found",
                file=path,
                path="automl.controller",
                expected="a config_automl.json relative to the MMAR",
            )
        return (
            AutoMLPlan(),
            f"no {CONTROLLER_FILE}: Clara's defaults ({AutoMLPlan().max_rounds} trials)",
        )
    return read_plan(load_json(path, what="AutoML controller config"), file=path), ""


def _split_overrides() -> tuple[list[str], list[str]]:
    """The search's overrides: (written into each trial's JSON, passed to its train job)."""
    from hydra.core.hydra_config import HydraConfig

    framework = _framework_keys()
    mmar: list[str] = []
    job: list[str] = []
    for text in HydraConfig.get().overrides.task:
        key = str(text).split("=", 1)[0].lstrip("+~").split(".")[0].split("/")[0]
        if key in _SEARCH_KEYS:
            continue
        (job if key in framework else mmar).append(str(text).lstrip("+"))
    return mmar, job


def _folder(ctx: TaskContext, run_id: str, *, shared: bool = False) -> Path:
    """The search folder; a shared search's workers all use it (the first one makes it)."""
    folder = ctx.paths.write(Path("automl") / run_id, where="automl.run_id")
    if not shared and folder.exists() and any(folder.iterdir()):
        raise ConfigError(
            "the AutoML run folder exists and is not empty",
            file=folder,
            path="automl.run_id",
            expected="a new run id",
            fix=f"remove it (Clara's automl.sh does: rm -R {folder}) or pick automl.run_id=NAME",
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _quoted(value: str) -> str:
    """A path as one Hydra override value (spaces, commas and ``$`` stay literal)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _train(ctx: TaskContext, trial_dir: Path, config_rel: Path, job: list[str]) -> float | None:
    """The ordinary ``task=train`` on the trial MMAR, composed by Hydra in this process."""
    from hydra import compose

    read = read_mmar(trial_dir, task="train", config_file=str(config_rel))
    hydra_config.register_mmar(read.config)
    try:
        own = [
            f"mmar={_quoted(str(trial_dir))}",
            "task=train",
            f"config_file={_quoted(str(config_rel))}",
        ]
        cfg = compose("config", overrides=hydra_config.rewrite_overrides([*own, *job], read.config))
        return train.run(TaskContext.for_job(cfg, read, trial_dir))
    finally:
        assert ctx.read is not None
        hydra_config.register_mmar(ctx.read.config)


def _stats(trial_dir: Path, ckpt: str) -> dict[str, Any]:
    path = trial_dir / ckpt / "train_stats.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _engine_log(trial_dir: Path, ckpt: str) -> dict[str, Any]:
    """The classes the engine trained with, as it logged them (``hparams.yaml``)."""
    from omegaconf import OmegaConf

    path = trial_dir / ckpt / "hparams.yaml"
    if not path.is_file():
        return {}
    logged = OmegaConf.to_container(OmegaConf.load(path))
    return {str(k): v for k, v in logged.items()} if isinstance(logged, dict) else {}


def _trial_runner(ctx: TaskContext, raw: dict[str, Any], space: Any, folder: Path, stats: dict):

    assert ctx.read is not None
    config_rel = ctx.read.config_file.relative_to(ctx.mmar_root)
    mmar_overrides, job_overrides = _split_overrides()
    ckpt = ctx.paths.ckpt_value

    def run_trial(i: int, sample: dict[str, Any]) -> TrialResult:
        settings = describe_sample(raw, space, sample)
        trial_dir = folder / f"trial_{i}"
        result = TrialResult(i, dict(sample), settings, folder=str(trial_dir))
        write_trial_mmar(
            ctx.mmar_root,
            trial_dir,
            config_rel=config_rel,
            trial_config=apply_sample(raw, space, sample),
            overrides=mmar_overrides,
            record={"trial": i, "sample": sample, "settings": settings},
            env=ctx.read.env if ctx.read else None,
        )
        print(f"\nautoml: trial {i} in {trial_dir}: {settings}", flush=True)
        start = time.perf_counter()
        try:
            best = _train(ctx, trial_dir, config_rel, job_overrides)
        except Exception as exc:  # noqa: BLE001 - a failed trial is recorded, the search goes on
            report(exc, ctx.settings.debug or not isinstance(exc, MMARError))
            result.status, result.error, best = "failed", one_line(exc), None
        result.seconds = time.perf_counter() - start
        trial_stats = _stats(trial_dir, ckpt)
        stats.update({k: trial_stats[k] for k in ("key_metric_name",) if k in trial_stats})
        result.best = None if best is None else float(best)
        result.epoch = trial_stats.get("best_key_metric_epoch")
        record_path = trial_dir / TRIAL_RECORD
        record = json.loads(record_path.read_text())
        record.update(result.record(), engine=_engine_log(trial_dir, ckpt))
        record_path.write_text(json.dumps(record, indent=2, default=str) + "\n")
        return result

    return run_trial


def _metric_of(ranked: list[Any]) -> str | None:
    """The key metric's name from a trial's train_stats.json (trials another worker ran)."""
    for t in ranked:
        path = Path(t.folder) / "models" / "train_stats.json"
        if t.folder and path.is_file():
            return json.loads(path.read_text()).get("key_metric_name")
    return None


def _record_ranks(ranked: list[Any]) -> None:
    """Each kept trial's ``trial.json`` gets its rank."""

    for t in ranked:
        path = Path(t.folder) / TRIAL_RECORD
        if path.is_file():
            record = json.loads(path.read_text())
            record.update(rank=t.rank, status=t.status)
            path.write_text(json.dumps(record, indent=2, default=str) + "\n")


def _best_copy(folder: Path, ranked: list[Any]) -> Path | None:
    best = next((t for t in ranked if t.best is not None and Path(t.folder).is_dir()), None)
    if best is None:
        return None
    dest, tmp = folder / "best", folder / ".best.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(best.folder, tmp, ignore=shutil.ignore_patterns("cache"))
    (tmp / "best.json").write_text(json.dumps({"trial": best.trial, "from": best.folder}) + "\n")
    tmp.replace(dest)
    return dest


def _search(space: Any, options: Any, spec: Any, runner: Any, folder: Path, stats: dict) -> tuple:
    """Run the trials (alone, or as one worker of a shared study), then rank, prune, copy the
    best and write the report; returns (ranked, best copy, metric name, report paths, text)."""

    finish: Any = contextlib.nullcontext()
    worker = None
    if spec is None:
        trials, notes = run_search(TrialSampler(space, options.seed), options, runner)
    else:  # the study's trials, whoever ran them; the report is written under its lock
        worker, notes = run_shared_search(
            spec, distributions(space), options, runner, lambda n: str(folder / f"trial_{n}")
        )
        finish = worker.lock
    with finish:
        if worker is not None:
            trials = results_of(worker.study)
            shutil.rmtree(folder / "best", ignore_errors=True)  # another worker's copy
        ranked = rank_trials(trials)
        pruned = prune_trials(ranked, options.keep)
        if pruned:
            notes.append(
                f"pruned {len(pruned)} trial folder(s) beyond num_mmars_to_keep={options.keep}"
            )
        _record_ranks(ranked)
        best = _best_copy(folder, ranked)
        metric = str(stats.get("key_metric_name") or _metric_of(ranked) or "key metric")
        paths, text = write_report(folder, ranked, metric, notes)
    return ranked, best, metric, paths, text


def run(ctx: TaskContext) -> float | None:
    """Search; returns the best trial's key metric."""

    if in_multirun():
        raise ConfigError(
            "task=automl runs its trials itself: run it without -m",
            path="-m",
            fix="python -m mmar_hydra task=automl mmar=... config_file=config/trn_autoML_X.json",
        )
    assert ctx.read is not None
    raw = load_json(ctx.read.config_file)
    space = parse_space(raw, file=ctx.read.config_file)
    if not space:
        raise ConfigError(
            "this training config has no search blocks",
            file=ctx.read.config_file,
            path="search",
            expected="a Clara AutoML training config (trn_autoML_*.json) with 'search' blocks",
            fix="task=train trains it as it is; see README 'Clara AutoML' for the search syntax",
        )
    plan, plan_note = _plan(ctx)
    options = search_options(plan, dict(ctx.settings.automl or {}), ctx.read.config_file.stem)
    spec = shared_spec(options, dict(ctx.settings.automl or {}))  # automl.storage=URL
    folder = _folder(ctx, options.run_id, shared=spec is not None)
    print(
        f"automl: {len(space.params)} search block(s), {options.trials} trial(s), "
        f"{SAMPLER}(seed={options.seed}), keep {options.keep}, "
        f"stop_threshold {options.stop_threshold}; in {folder}"
    )
    if plan_note:
        print(f"automl: {plan_note}")
    record = {
        "config_file": str(ctx.read.config_file),
        "sampler": SAMPLER,
        "options": options.__dict__,
        "space": {
            p.name: {"type": p.type, "domain": p.domain, "where": p.where, "sweep": p.hydra_value()}
            for p in space.params
        },  # fmt: skip
    }
    if spec is None or not (folder / "search.json").is_file():
        atomic_write_text(folder / "search.json", json.dumps(record, indent=2) + "\n")
    stats: dict[str, Any] = {}
    runner = _trial_runner(ctx, raw, space, folder, stats)
    ranked, best, metric, paths, text = _search(space, options, spec, runner, folder, stats)
    print("\n" + text)
    print("wrote " + "\n      ".join(str(p) for p in paths))
    if best is None:
        raise MMARError(
            "no trial finished with a key metric",
            file=folder,
            path="automl",
            expected="at least one trial that trained and validated",
            fix="see the trials' errors above and in automl_report.md",
        )
    print(f"best trial: {best} ({metric} {ranked[0].best:.4f})")
    return ranked[0].best
