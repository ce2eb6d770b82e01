"""Read what training runs left behind: config, train_stats.json, checkpoints, TensorBoard.

Used by the sweep summary and by ``task=compare``. Works on MMARs made by sweeps, by clone or
by plain ``cp -r``, and on runs still going or that crashed: whatever exists is reported.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmar_hydra.mmar.keys import flatten

__all__ = ["RunRecord", "find_mmars", "load_run", "differing_keys", "curves"]

# keys that differ between any two folders without saying anything about the experiment
_NOISE = ("mmar_source", "MMAR_CKPT_DIR", "MMAR_EVAL_OUTPUT_PATH", "MMAR_CKPT", "MMAR_TORCHSCRIPT")


@dataclass
class RunRecord:
    name: str
    root: Path
    config: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    params: int | None = None
    status: str = "not started"
    # learning curves read elsewhere (an MLflow store); None: the run's TensorBoard events
    series: dict[str, list[tuple[int, float]]] | None = None
    # leading table columns from the run's source (an Optuna trial's parameters, value, folder)
    extra: dict[str, Any] = field(default_factory=dict)


def _is_mmar(path: Path) -> bool:
    return (path / "config").is_dir()


def find_mmars(runs: str | list[str] | tuple[str, ...]) -> list[Path]:
    """MMAR roots in a sweep dir, a list of dirs, or a glob (sweep jobs hold theirs in ``mmar/``)."""
    items = [runs] if isinstance(runs, str) else list(runs)
    found: list[Path] = []
    for item in items:
        for match in sorted(glob.glob(str(Path(str(item)).expanduser()))) or [str(item)]:
            path = Path(match)
            if _is_mmar(path):
                found.append(path)
            elif path.is_dir():
                found += sorted(
                    p.parent
                    for p in path.rglob("config")
                    if p.is_dir() and ((p.parent / "models").exists() or p.parent.name == "mmar")
                )
    return list(dict.fromkeys(p.resolve() for p in found))


def _config_of(root: Path) -> dict[str, Any]:
    resolved = root / "models" / "mmar_hydra_config.yaml"
    if resolved.is_file():
        from omegaconf import OmegaConf

        return OmegaConf.to_container(OmegaConf.load(resolved))  # type: ignore[return-value]
    out: dict[str, Any] = {}
    for name in ("environment.json", "config_train.json"):
        if (root / "config" / name).is_file():
            out.update(json.loads((root / "config" / name).read_text()))
    return out


def _param_count(path: Path) -> int | None:
    if not path.is_file():
        return None
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True).get("model", {})
    except Exception:  # noqa: BLE001 - a half-written or foreign file: report no count
        return None
    return int(sum(v.numel() for v in state.values() if hasattr(v, "numel")))


def load_run(root: Path, name: str | None = None) -> RunRecord:
    models = root / "models"
    stats_path = models / "train_stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    if (models / "final_model.pt").is_file():
        status = "finished"
    elif stats:
        status = "running or stopped"
    else:
        status = "not started"
    return RunRecord(
        name=name or root.name,
        root=root,
        config=_config_of(root),
        stats=stats,
        params=_param_count(models / "model.pt") or _param_count(models / "final_model.pt"),
        status=status,
    )


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """Flattened keys whose values are not the same in every config (missing counts as a value)."""
    flats = [flatten(c) for c in configs]
    keys = sorted(set().union(*flats)) if flats else []
    missing = object()
    return [
        k
        for k in keys
        if not k.startswith(_NOISE)
        and len({json.dumps(f.get(k, missing), sort_keys=True, default=str) for f in flats}) > 1
    ]


def curves(root: Path, tags: tuple[str, ...]) -> dict[str, list[tuple[int, float]]]:
    """(epoch, value) series of TensorBoard scalars in the run's models/ folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not any((root / "models").glob("events.out.tfevents.*")):
        return {}  # not started, or no TensorBoard handler: nothing to plot
    events = EventAccumulator(str(root / "models"), size_guidance={"scalars": 0})
    events.Reload()
    available = set(events.Tags().get("scalars", []))
    step_epoch = (
        {e.step: int(e.value) for e in events.Scalars("epoch")} if "epoch" in available else {}
    )
    out: dict[str, list[tuple[int, float]]] = {}
    for tag in tags:
        if tag in available:
            out[tag] = [
                (step_epoch.get(e.step, e.step) + 1, float(e.value)) for e in events.Scalars(tag)
            ]
    return out
