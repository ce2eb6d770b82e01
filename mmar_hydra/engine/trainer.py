"""The Lightning Trainer an MMAR's globals ask for.

Clara's globals choose the device (``use_gpu``, ``multi_gpu``), mixed precision (``amp``),
seeding (``determinism.random_seed``) and cuDNN / TF32 switches. A Hydra ``trainer`` preset
(cpu, gpu, ddp, ddp_cpu) may override any Trainer argument. Configs written for CUDA run on
a CPU-only machine, and every such fallback is said once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.errors import ConfigError, first_line
from mmar_hydra.launch_env import launch_layout

__all__ = [
    "seed_from_globals",
    "configured_seed",
    "trainer_kwargs",
    "build_trainer",
    "quiet_lightning",
    "distributed_layout",
    "describe_trainer",
    "new_trainer",
    "misconfigured",
]


def distributed_layout(kwargs: Mapping[str, Any]) -> tuple[int, int]:
    """(global rank, world size) this process will have once the Trainer launches.

    Known before anything is built, so each rank can build (and cache) only its shard of
    the data. Rank 0 is the launching process; Lightning starts the others with LOCAL_RANK
    and NODE_RANK set; torchrun / SLURM set RANK / SLURM_PROCID themselves.
    """
    import os

    strategy = kwargs.get("strategy", "")
    strategy = strategy if isinstance(strategy, str) else type(strategy).__name__.lower()
    devices = kwargs.get("devices", 1)
    per_node = (
        len(devices)
        if isinstance(devices, list | tuple)
        else int(devices)
        if str(devices).isdigit()
        else 1
    )
    if "ddp" not in strategy:
        return 0, 1
    world = per_node * int(kwargs.get("num_nodes", 1) or 1)
    for var in ("RANK", "SLURM_PROCID"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var]), world
    node = int(os.environ.get("NODE_RANK", 0) or 0)
    return node * per_node + int(os.environ.get("LOCAL_RANK", 0) or 0), world


def quiet_lightning() -> None:
    """Keep Lightning's tips and data-loader advice out of MMAR users' consoles."""
    import logging
    import warnings

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (".*does not have many workers.*", ".*LeafSpec.*", ".*num_workers.*"):
        warnings.filterwarnings("ignore", message=message)
    warnings.filterwarnings("ignore", category=FutureWarning, module="monai")


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1") if isinstance(value, str) else bool(value)


def configured_seed(globals_: Mapping[str, Any]) -> int | None:
    """``determinism.random_seed`` of the globals (None: unseeded)."""
    det = globals_.get("determinism") or {}
    seed = det.get("random_seed") if isinstance(det, Mapping) else None
    return None if seed is None else int(seed)


def seed_from_globals(globals_: Mapping[str, Any]) -> int | None:
    """Seed python, numpy, torch and MONAI from ``determinism.random_seed`` (before building)."""
    seed = configured_seed(globals_)
    if seed is None:
        return None
    import pytorch_lightning as pl
    from monai.utils import set_determinism

    pl.seed_everything(seed, workers=True, verbose=False)
    set_determinism(seed=seed)
    return seed


def trainer_kwargs(
    globals_: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    *,
    run_dir: Path | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Trainer arguments from the globals, then the preset's overrides; and notes to print.

    Args:
        globals_: the MMAR's resolved globals.
        overrides: the ``trainer`` group's arguments (and a ``debug`` preset's).
        run_dir: where a ``profiler: simple|advanced`` writes its report (the Hydra run folder).
    """
    import torch

    notes: list[str] = []
    cuda = torch.cuda.is_available()
    use_gpu = _truthy(globals_.get("use_gpu", True))
    kwargs: dict[str, Any] = {"accelerator": "gpu" if (use_gpu and cuda) else "cpu", "devices": 1}
    if use_gpu and not cuda and "use_gpu" in globals_:
        notes.append("use_gpu=true but this machine has no CUDA device: training on the CPU")
    if _truthy(globals_.get("multi_gpu", False)):
        if cuda:
            kwargs.update(strategy="ddp", devices=torch.cuda.device_count())
        elif "strategy" not in (overrides or {}):
            notes.append(
                "multi_gpu=true but no GPU: one CPU process "
                "(add trainer=ddp_cpu for CPU DDP with gloo)"
            )
    amp = _truthy(globals_.get("amp", False))
    kwargs["precision"] = "32-true"
    if amp and kwargs["accelerator"] == "gpu":
        kwargs["precision"] = "16-mixed"
    elif amp and "precision" not in (overrides or {}):
        notes.append(
            "amp=true: CPU run, so training in 32-bit (fp16 autocast is GPU-only; "
            "trainer.precision=bf16-mixed forces bfloat16)"
        )
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = _truthy(globals_.get("cudnn_benchmark", False))
    if configured_seed(globals_) is not None:
        # deterministic algorithms where torch has them; warn (not fail) where it has none
        kwargs["deterministic"] = "warn"
    tf32 = _truthy(globals_.get("tf32", False))
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    for key, value in (overrides or {}).items():
        if key != "_target_" and value is not None:
            kwargs[key] = value
    launched = launch_layout(kwargs)  # torchrun / srun: their process layout, not the preset's
    if launched:
        notes.append(launched)
    if kwargs.get("strategy") == "ddp" and kwargs.get("accelerator") == "cpu":
        kwargs["strategy"] = _cpu_ddp()
    if kwargs.get("accelerator") in ("gpu", "cuda") and not cuda:
        notes.append(
            f"trainer asks for {kwargs['accelerator']} but there is no CUDA device: using the CPU"
        )
        kwargs["accelerator"] = "cpu"
        if kwargs.get("strategy") == "ddp":
            kwargs["strategy"] = _cpu_ddp()
    if run_dir is not None and kwargs.get("profiler") in ("simple", "advanced"):
        kwargs["profiler"] = _profiler(str(kwargs["profiler"]), run_dir)
        notes.append(f"profiler: {kwargs['profiler'].__class__.__name__}, report in {run_dir}")
    return kwargs, notes


def _profiler(kind: str, run_dir: Path) -> Any:
    """Lightning's simple / advanced profiler, its report as ``<stage>-profiler.txt``."""
    from pytorch_lightning.profilers import AdvancedProfiler, SimpleProfiler

    cls = SimpleProfiler if kind == "simple" else AdvancedProfiler
    return cls(dirpath=str(run_dir), filename="profiler")


def describe_trainer(kwargs: Mapping[str, Any]) -> str:
    """One line saying what the Trainer will run on, e.g. ``cpu x1, 32-true, deterministic``."""
    strategy = kwargs.get("strategy", "auto")
    if not isinstance(strategy, str):
        backend = getattr(strategy, "process_group_backend", None)
        strategy = type(strategy).__name__.replace("Strategy", "").lower()
        strategy += f" ({backend})" if backend else ""
    parts = [
        f"{kwargs.get('accelerator', 'auto')} x{kwargs.get('devices', 1)}",
        str(kwargs.get("precision", "32-true")),
    ]
    if strategy not in ("auto", None):
        parts.append(f"strategy {strategy}")
    if int(kwargs.get("num_nodes", 1) or 1) > 1:
        parts.append(f"{kwargs['num_nodes']} nodes")
    if kwargs.get("deterministic"):
        parts.append("deterministic")
    return ", ".join(parts)


def _cpu_ddp() -> Any:
    from pytorch_lightning.strategies import DDPStrategy

    return DDPStrategy(process_group_backend="gloo")


def build_trainer(
    kwargs: Mapping[str, Any],
    *,
    max_epochs: int,
    callbacks: list[Any],
    logger: Any,
    default_root_dir: Path,
    extra: Mapping[str, Any] | None = None,
) -> Any:
    args: dict[str, Any] = {
        "max_epochs": max_epochs,
        "callbacks": callbacks,
        "logger": logger if logger is not None else False,
        "default_root_dir": str(default_root_dir),
        "enable_checkpointing": False,
        "num_sanity_val_steps": 0,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
    }
    args.update(extra or {})
    args.update(kwargs)
    return new_trainer(args)


def new_trainer(args: Mapping[str, Any]) -> Any:
    """``pl.Trainer(**args)``, with deterministic algorithms but no NaN-filled new tensors.

    ``deterministic=True`` makes torch fill every ``torch.empty`` result with NaN as well, a
    debugging aid for ops that read memory they never wrote. Correct ops overwrite it, so the
    results are the same without it; the fill costs ~5 % of a 3D UNet step on CPU (10,700
    ``aten::fill_`` calls per 20 steps in torch.profiler).
    """
    import pytorch_lightning as pl
    import torch

    trainer = pl.Trainer(**args)
    if args.get("deterministic"):
        torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    return trainer


def misconfigured(exc: Exception) -> ConfigError:
    """Lightning's MisconfigurationException about the Trainer's switches, as a user error.

    E.g. ``debug=limit`` (``limit_train_batches: 0.25``) on a loader of 2 batches: a fraction
    that gives less than one batch.

    Args:
        exc: the exception Lightning raised when the fit started.
    """
    text = first_line(exc, 1000)
    return ConfigError(
        f"Lightning refused the trainer settings: {text}",
        path="trainer",
        expected="trainer.* switches (and debug= presets) that fit this MMAR's data",
        fix="change the trainer.* override Lightning names, e.g. trainer.limit_train_batches=2 "
        "(a whole number of batches) for debug=limit on a small datalist",
    )
