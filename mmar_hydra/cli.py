"""``python -m mmar_hydra``: read the MMAR, hand it to Hydra, run the task, report errors.

Order of events for one command line:

1. parse argv with Hydra's own argument parser (every Hydra flag: ``--cfg``, ``--info``, ``-m``,
   ``--config-dir``, ...), take ``task=``, ``mmar=``, ``config_file=``, ``env_file=`` from its
   overrides and check their syntax (so bad input fails before anything heavy is imported);
2. read the MMAR (``reader.read_mmar``) and register it with Hydra (``hydra_config``);
3. rewrite overrides of keys the MMAR does not have to ``++key=value`` (Clara's --set);
4. let ``@hydra.main`` compose, sweep and launch; each job runs :class:`mmar_hydra.job.TaskJob`,
   which carries the MMAR read in step 2 into the task context.

A user error (:class:`MMARError`) prints a short message and exits non-zero; the traceback
is shown only with ``debug=true``. Under ``-m`` a failing job is recorded and the sweep goes
on (:mod:`mmar_hydra.job`); the process exits non-zero at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmar_hydra import gc_policy, hydra_config, lean_imports
from mmar_hydra.distributed import process_rank
from mmar_hydra.errors import ConfigError, MMARError, report
from mmar_hydra.hydra_config import conf_dir, debug_wanted, runs_dir
from mmar_hydra.job import TaskJob
from mmar_hydra.launch_env import run_dir_overrides
from mmar_hydra.reader.mmar_reader import read_mmar
from mmar_hydra.run_logging import log_config_of
from mmar_hydra.run_paths import check_runs_folder
from mmar_hydra.runs.summary import last_sweep
from mmar_hydra.settings import Settings, is_true
from mmar_hydra.tasks import TASKS, get_task

__all__ = ["main", "entry", "prepare", "hydra_args", "Prepared", "HELP", "report"]

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

Clara's evaluation flags (task=validate, any validation config):
  do_validation=false         no metrics, no labels needed (the datalist's test split)
  output_infer_result=true    write the predictions to MMAR_EVAL_OUTPUT_PATH

examples:
  python -m mmar_hydra task=demo_data out=demo
  python -m mmar_hydra mmar=demo task=check
  python -m mmar_hydra mmar=demo task=train epochs=10
  python -m mmar_hydra mmar=/mmars/spleen task=train config_file=config/config_train_Unet.json \\
      DATA_ROOT=/data/spleen DATASET_JSON=/data/spleen/dataset.json
  python -m mmar_hydra mmar=demo task=train --cfg job --resolve
"""


def hydra_args(argv: Sequence[str]) -> argparse.Namespace:
    """argv parsed by Hydra's own parser (flags anywhere, as users type them).

    The parser is ``hydra._internal.utils.get_args_parser()``, the one ``@hydra.main`` uses,
    so every Hydra flag is understood exactly as Hydra understands it. A bad flag is
    argparse's usage message and exit code 2.
    """
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()
    parser.prog = "python -m mmar_hydra"
    return parser.parse_intermixed_args(list(argv))


def _flags(argv: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """argv without its overrides (in order): Hydra's flags and their values."""
    rest, k = [], 0
    for arg in argv:
        if k < len(overrides) and arg == overrides[k]:
            k += 1
            continue
        rest.append(arg)
    return rest


def _value(overrides: Sequence[str], key: str) -> str | None:
    """The last value given for ``key`` (with or without + / ++ prefixes)."""
    found = None
    for text in overrides:
        name, _, value = text.partition("=")
        if name.lstrip("+") == key and _:
            found = value.strip("'\"")
    return found


def _is_true(value: str | None) -> bool:
    """``debug=`` as the schema reads it (a debug preset also means yes; an unreadable value
    is reported later)."""

    return is_true(value) or debug_wanted(value)


def _print_help() -> None:
    from hydra._internal.utils import get_args_parser

    width = max(len(n) for n in TASKS) + 2
    tasks = "\n".join(f"  {n:<{width}} {s.summary}" for n, s in TASKS.items())
    keys = dataclasses.fields(Settings)
    settings = "\n".join(f"  {f.name + '=':<22} {f.metadata['help']}" for f in keys)
    print(
        HELP.format(tasks=tasks, settings=settings)
        + "\nHydra's flags (Hydra's own parser: all of them work here):"
    )
    for action in get_args_parser()._actions:
        if not action.option_strings:
            continue
        names = ", ".join(action.option_strings)
        if action.choices:
            names += " {" + ",".join(action.choices) + "}"
        elif action.nargs != 0:
            names += " " + action.dest.upper()
        text = (
            action.help if isinstance(action.help, str) else "install or uninstall shell completion"
        )
        print(f"  {names:<34} {text.split(chr(10))[0].strip()}")


# for tasks that write nothing of their own: no Hydra run folder, no log file
_NO_RUN_DIR = (
    "hydra.run.dir=.",
    "hydra.output_subdir=null",
    "hydra/job_logging=disabled",
    "hydra/hydra_logging=disabled",
)


@dataclass
class Prepared:
    """What :func:`prepare` hands to Hydra: its argv, and the MMAR read for the task context."""

    argv: list[str]  # overrides first, then the flags (so ``--info`` takes no override as value)
    read: Any = None


def prepare(args: argparse.Namespace, argv: Sequence[str]) -> Prepared:
    """Steps 1-3 of the module docstring.

    Args:
        args: argv parsed by :func:`hydra_args`.
        argv: the command line itself (flags are passed on as they are).
    """

    overrides = list(args.overrides)
    flags = _flags(argv, overrides)
    if args.hydra_help:  # Hydra composes its own config alone: the app's keys do not exist
        hydra_only = [o for o in overrides if o.lstrip("+").startswith(("hydra.", "hydra/"))]
        hydra_config.register_empty()
        return Prepared([*hydra_only, *flags])
    if args.experimental_rerun or args.shell_completion:
        # rerun: Hydra ignores overrides, the job reads its pickled config; shell completion
        # takes install=SHELL / uninstall=SHELL / query=SHELL, which are no config overrides
        if args.shell_completion:
            hydra_config.register_empty()
        return Prepared([*overrides, *flags])
    hydra_config.check_settings_overrides(overrides)  # syntax, then the schema of our keys
    own_conf = bool(args.config_dir) or any("hydra.searchpath" in o for o in overrides)
    overrides = hydra_config.normalize_debug(overrides, own_conf=own_conf)
    spec = get_task(_value(overrides, "task") or "check")
    mmar = _value(overrides, "mmar")
    extra = [] if spec.run_dir else list(_NO_RUN_DIR)
    if spec.run_dir and not args.multirun:  # torchrun / srun ranks: one shared run folder
        extra += run_dir_overrides(overrides)
    informational = args.info is not None
    if not spec.needs_mmar or (informational and not mmar):
        hydra_config.register_empty()
        rewritten = hydra_config.rewrite_overrides(overrides, {})
        return Prepared([*rewritten, *extra, *flags])
    if not mmar:
        raise ConfigError(
            f"task={spec.name} needs an MMAR",
            path="mmar",
            expected="mmar=PATH, the folder that holds config/",
            fix="e.g. `python -m mmar_hydra mmar=demo task=" + spec.name + "` "
            "(make one with `python -m mmar_hydra task=demo_data out=demo`)",
        )

    result = read_mmar(
        mmar,
        task=spec.reader_task or spec.name,
        config_file=_value(overrides, "config_file"),
        env_file=_value(overrides, "env_file"),
    )
    if spec.run_dir and not any(o.lstrip("+").startswith("hydra.run.dir=") for o in overrides):
        check_runs_folder(result.layout.root)  # a shipped runs -> elsewhere symlink
    hydra_config.register_mmar(result.config)
    if _rank_zero():
        for note in result.notes:
            print(f"compat: {note.format()}", file=sys.stderr)
    rewritten = hydra_config.rewrite_overrides(overrides, result.config)
    if spec.name == "finetune" and result.config_file.name != "config_finetune.json":
        # Clara's finetune.sh: config_train.json with the CheckpointLoader switched on;
        # placed first so the user's own dont_load_ckpt_model=... still wins.
        rewritten.insert(0, "++dont_load_ckpt_model=false")
    own_logging = any(o.lstrip("+").startswith("hydra/job_logging=") for o in overrides)
    if spec.run_dir and not own_logging and log_config_of(result.layout.root) is not None:
        extra.append("hydra/job_logging=none")  # the job configures logging from log.config
    return Prepared([*rewritten, *extra, *flags], result)


def _rank_zero() -> bool:

    return process_rank() == 0


def _register_resolvers() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("mmar_hydra_runs"):
        OmegaConf.register_new_resolver("mmar_hydra_runs", runs_dir)


def _swept_mmars(args: argparse.Namespace) -> list[str]:
    """``-m mmar=A,B``: the MMARs to sweep over (each MMAR is its own Hydra config)."""
    if not args.multirun:
        return []
    value = _value(args.overrides, "mmar") or ""
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


def _sweep_exit_code() -> int:
    """0 when every job of the sweep this process just ran finished; else 2 (user errors) or 1."""

    failed = last_sweep().get("failed") or []
    if not failed:
        return 0
    return 2 if all(code == 2 for _, _, code in failed) else 1


def main(argv: Sequence[str] | None = None) -> Any:
    """Entry point of ``python -m mmar_hydra`` and the ``mmar-hydra`` script."""
    argv = ["--help" if a == "help" else a for a in (sys.argv[1:] if argv is None else argv)]
    args = hydra_args(argv)
    if args.help:
        _print_help()
        return 0
    debug = _is_true(_value(args.overrides, "debug"))
    if debug:
        os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    mmars = _swept_mmars(args)
    if mmars:
        sys.exit(_sweep_mmars(argv, mmars))
    try:
        prepared = prepare(args, argv)
    except MMARError as exc:
        sys.exit(report(exc, debug))

    import hydra

    _register_resolvers()
    sys.argv = [sys.argv[0], *prepared.argv]
    job = TaskJob(prepared.read, command=["python", "-m", "mmar_hydra", *argv])
    entry = hydra.main(config_path=str(conf_dir()), config_name="config", version_base="1.3")(job)
    shows_only = args.cfg or args.info or args.hydra_help or args.shell_completion
    try:
        result = entry()
    finally:
        if shows_only:  # Hydra left a half-set HydraConfig (no runtime.output_dir) behind
            from hydra.core.hydra_config import HydraConfig

            HydraConfig.instance().cfg = None
    if args.multirun:
        code = _sweep_exit_code()
        if code:
            sys.exit(code)
    return result


def entry(argv: Sequence[str] | None = None) -> None:
    """The process entry point: ``python -m mmar_hydra``, ``mmar-hydra``, ``mmar_hydra.apps.*``.

    :func:`main` plus what only a process that ends with the task may do: the
    garbage-collector policy of :mod:`mmar_hydra.gc_policy`, and deferring the optional packages
    ``import monai`` pulls in but a run does not use (:mod:`mmar_hydra.lean_imports`).
    """

    lean_imports.defer()
    gc_policy.pause_for_startup()
    try:
        main(argv)
    finally:
        gc_policy.prepare_exit()
