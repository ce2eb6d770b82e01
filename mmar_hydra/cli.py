"""``python -m mmar_hydra``: read the MMAR, hand it to Hydra, run the task, report errors.

Order of events for one command line:

1. pre-read ``task=``, ``mmar=``, ``config_file=``, ``env_file=`` from argv and check the
   override syntax (so bad input fails before anything heavy is imported);
2. read the MMAR (``reader.read_mmar``) and register it with Hydra (``hydra_config``);
3. rewrite overrides of keys the MMAR does not have to ``++key=value`` (Clara's --set);
4. let ``@hydra.main`` compose, sweep and launch; each job runs its task module.

A user error (:class:`MMARError`) prints a short message and exits non-zero; the traceback
is shown only with ``debug=true``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError, MMARError

__all__ = ["main", "entry", "HELP"]

HELP = """\
mmar_hydra: run a Clara Train MMAR with Hydra, PyTorch Lightning and MONAI.

usage: python -m mmar_hydra mmar=PATH task=TASK [key=value ...] [-m]

tasks:
{tasks}

mmar_hydra's keys:
{settings}
  trainer=cpu|gpu|ddp|ddp_cpu   Lightning trainer preset (default: what the MMAR's globals say)
  network=mmar|unet|segresnet  loss=mmar|dice|dice_ce  optimizer=mmar|adam|novograd
  lr_scheduler=mmar|step|cosine   swap a training component for a preset (mmar = the MMAR's own)

overrides (like Clara's --set):
  epochs=5 learning_rate=1e-3 DATA_ROOT=/data MMAR_CKPT_DIR=models/exp1
  train.model.args.channels=[8,16,32,64]      any component argument, by JSON path
  -m learning_rate=1e-3,1e-4 network=unet,segresnet   Hydra multirun sweep

examples:
  python -m mmar_hydra task=demo_data out=demo
  python -m mmar_hydra mmar=demo task=check
  python -m mmar_hydra mmar=demo task=train epochs=10
  python -m mmar_hydra mmar=/mmars/spleen task=train config_file=config/config_train_Unet.json \\
      DATA_ROOT=/data/spleen DATASET_JSON=/data/spleen/dataset.json

Hydra's own help: --hydra-help
"""

# flags that take the following argv item as their value
_FLAGS_WITH_VALUE = {
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
    "--info",
    "-i",
    "--cfg",
    "-c",
    "--package",
    "-p",
}


def _split_argv(argv: Sequence[str]) -> tuple[list[int], list[str]]:
    """Indices and texts of the key=value overrides in argv (flags and their values excluded)."""
    idx, texts, skip = [], [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            skip = arg in _FLAGS_WITH_VALUE and arg not in ("--info", "-i", "--cfg", "-c")
            continue
        idx.append(i)
        texts.append(arg)
    return idx, texts


def _value(overrides: Sequence[str], key: str) -> str | None:
    """The last value given for ``key`` (with or without + / ++ prefixes)."""
    found = None
    for text in overrides:
        name, _, value = text.partition("=")
        if name.lstrip("+") == key and _:
            found = value.strip("'\"")
    return found


def _is_true(value: str | None) -> bool:
    """``debug=`` as the schema reads it; an unreadable value means no (it is reported later)."""
    from mmar_hydra.settings import parse_bool

    try:
        return value is not None and parse_bool(value, key="debug")
    except MMARError:
        return False


def _print_help() -> None:
    import dataclasses

    from mmar_hydra.settings import Settings
    from mmar_hydra.tasks import TASKS

    width = max(len(n) for n in TASKS) + 2
    tasks = "\n".join(f"  {n:<{width}} {s.summary}" for n, s in TASKS.items())
    keys = dataclasses.fields(Settings)
    settings = "\n".join(f"  {f.name + '=':<16} {f.metadata['help']}" for f in keys)
    print(HELP.format(tasks=tasks, settings=settings))


def report(error: BaseException, debug: bool) -> int:
    """Print a user error (traceback only in debug) and return the exit code."""
    if debug:
        traceback.print_exception(error)
    if isinstance(error, MMARError):
        print(error.format(), file=sys.stderr)
        if not debug:
            print("  (add debug=true for a traceback)", file=sys.stderr)
        return error.exit_code
    print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
    return 1


_READ_RESULT: Any = None
# for tasks that write nothing of their own: no Hydra run folder, no log file
_NO_RUN_DIR = (
    "hydra.run.dir=.",
    "hydra.output_subdir=null",
    "hydra/job_logging=disabled",
    "hydra/hydra_logging=disabled",
)


def prepare(argv: list[str]) -> list[str]:
    """Steps 1-3 of the module docstring; returns the argv Hydra should see."""
    from mmar_hydra import hydra_config
    from mmar_hydra.tasks import get_task

    global _READ_RESULT
    idx, overrides = _split_argv(argv)
    hydra_config.parse_overrides(overrides)
    spec = get_task(_value(overrides, "task") or "check")
    mmar = _value(overrides, "mmar")
    if not spec.run_dir:
        argv = [*argv, *_NO_RUN_DIR]
    if not spec.needs_mmar:
        hydra_config.register_empty()
        return _with_overrides(argv, idx, hydra_config.rewrite_overrides(overrides, {}))
    if not mmar:
        raise ConfigError(
            f"task={spec.name} needs an MMAR",
            path="mmar",
            expected="mmar=PATH, the folder that holds config/",
            fix="e.g. `python -m mmar_hydra mmar=demo task=" + spec.name + "` "
            "(make one with `python -m mmar_hydra task=demo_data out=demo`)",
        )
    from mmar_hydra.reader.mmar_reader import read_mmar

    result = read_mmar(
        mmar,
        task=spec.reader_task or spec.name,
        config_file=_value(overrides, "config_file"),
        env_file=_value(overrides, "env_file"),
    )
    _READ_RESULT = result
    hydra_config.register_mmar(result.config)
    if _rank_zero():
        for note in result.notes:
            print(f"compat: {note.format()}", file=sys.stderr)
    rewritten = hydra_config.rewrite_overrides(overrides, result.config)
    if spec.name == "finetune" and result.config_file.name != "config_finetune.json":
        # Clara's finetune.sh: config_train.json with the CheckpointLoader switched on;
        # placed first so the user's own dont_load_ckpt_model=... still wins.
        rewritten.insert(0, "++dont_load_ckpt_model=false")
        idx = [-1, *idx]
    return _with_overrides(argv, idx, rewritten)


def _with_overrides(argv: list[str], idx: list[int], overrides: list[str]) -> list[str]:
    """argv with the override at each index replaced (index -1: prepended)."""
    new_argv = list(argv)
    front = []
    for i, text in zip(idx, overrides, strict=True):
        if i < 0:
            front.append(text)
        else:
            new_argv[i] = text
    return front + new_argv


def _rank_zero() -> bool:
    from mmar_hydra.context import process_rank

    return process_rank() == 0


def _register_resolvers() -> None:
    from omegaconf import OmegaConf

    from mmar_hydra.hydra_config import runs_dir

    if not OmegaConf.has_resolver("mmar_hydra_runs"):
        OmegaConf.register_new_resolver("mmar_hydra_runs", runs_dir)


def _reread(cfg: Any) -> Any:
    """The MMAR again, in a process launched without our argv (submitit pickles the job)."""
    from mmar_hydra.tasks import get_task

    spec = get_task(cfg.task)
    if not spec.needs_mmar or not cfg.get("mmar"):
        return None
    from mmar_hydra.reader.mmar_reader import read_mmar

    return read_mmar(
        cfg.mmar,
        task=spec.reader_task or spec.name,
        config_file=cfg.get("config_file"),
        env_file=cfg.get("env_file"),
    )


def _job(cfg: Any) -> Any:
    """The function Hydra runs once per job."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from mmar_hydra.context import TaskContext
    from mmar_hydra.tasks import get_task, load_task_module

    debug = _is_true(cfg.get("debug"))
    if not debug:  # MONAI's deprecation chatter is for developers, not MMAR users
        import warnings

        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        ctx = TaskContext(cfg=cfg, read=_READ_RESULT or _reread(cfg), run_dir=run_dir)
        if cfg.get("print_conf") and _rank_zero():
            print(OmegaConf.to_yaml(OmegaConf.create(ctx.resolved)))
        return load_task_module(get_task(cfg.task)).run(ctx)
    except MMARError as exc:
        sys.exit(report(exc, debug))


def _swept_mmars(argv: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """``-m mmar=A,B``: the MMARs to sweep over (each MMAR is its own Hydra config)."""
    if not any(a in ("-m", "--multirun") for a in argv):
        return []
    value = _value(overrides, "mmar") or ""
    return [v.strip() for v in value.split(",") if v.strip()] if "," in value else []


def _sweep_mmars(argv: Sequence[str], mmars: list[str]) -> int:
    """Run the sweep once per MMAR, one after another; each writes its own MMAR/runs/ folder."""
    import subprocess

    print(f"sweeping {len(mmars)} MMARs one after another: {', '.join(mmars)}", flush=True)
    worst = 0
    for mmar in mmars:
        args = [a if not a.lstrip("+").startswith("mmar=") else f"mmar={mmar}" for a in argv]
        worst = max(worst, subprocess.call([sys.executable, "-m", "mmar_hydra", *args]))
    return worst


def main(argv: Sequence[str] | None = None) -> Any:
    """Entry point of ``python -m mmar_hydra`` and the ``mmar-hydra`` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("--help", "-h", "help") for a in argv):
        _print_help()
        return 0
    _, overrides = _split_argv(argv)
    debug = _is_true(_value(overrides, "debug"))
    if debug:
        os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    mmars = _swept_mmars(argv, overrides)
    if mmars:
        sys.exit(_sweep_mmars(argv, mmars))
    try:
        argv = prepare(argv)
    except MMARError as exc:
        sys.exit(report(exc, debug))

    import hydra

    from mmar_hydra.hydra_config import conf_dir

    _register_resolvers()
    sys.argv = [sys.argv[0], *argv]
    entry = hydra.main(config_path=str(conf_dir()), config_name="config", version_base="1.3")(_job)
    return entry()


def entry(argv: Sequence[str] | None = None) -> None:
    """The process entry point: ``python -m mmar_hydra``, ``mmar-hydra``, ``mmar_hydra.apps.*``.

    :func:`main` plus the garbage-collector policy of :mod:`mmar_hydra.gc_policy`, which only a
    process that ends with the task may use.
    """
    from mmar_hydra import gc_policy

    gc_policy.pause_for_startup()
    try:
        main(argv)
    finally:
        gc_policy.prepare_exit()
