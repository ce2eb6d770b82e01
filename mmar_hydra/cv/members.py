"""The members of an ensemble: fold models of a CV folder, or a list of model files.

A ``.ts`` file loads as TorchScript; anything else as a checkpoint (``weights_only=True``)
whose network is rebuilt from its ``train_conf`` and loaded strictly. All members must have
the same network shapes; the first one that does not is named, with the first differing key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmar_hydra.cv.folder import CVFolder
from mmar_hydra.engine.model_loading import network_for_checkpoint
from mmar_hydra.errors import CheckpointError, ConfigError
from mmar_hydra.run_paths import RunPaths
from mmar_hydra.writers.checkpoints import load_checkpoint, load_weights, state_dict_of
from mmar_hydra.writers.torchscript import load_torchscript

__all__ = ["member_paths", "load_member", "check_same_shapes"]


def member_paths(models: Sequence[str] | None, cv_dir: Path | None, mmar_root: Path) -> list[Path]:
    """The model files: ``models`` (relative to the MMAR root) or every fold of ``cv_dir``.

    Raises:
        ConfigError: ``cv_dir`` is not a CV folder.
        CheckpointError: a fold without a model, a listed file that does not exist.
    """
    if models:
        paths = [Path(str(m)).expanduser() for m in models]
        paths = [p if p.is_absolute() else (mmar_root / p) for p in paths]
        for p in paths:
            if not p.is_file():
                raise CheckpointError(
                    "ensemble member not found",
                    file=p,
                    path="models",
                    expected="model files (.pt checkpoints or .ts TorchScript)",
                    fix="check the paths in models=[...] (relative ones resolve against the MMAR)",
                )
        return [p.resolve() for p in paths]
    assert cv_dir is not None
    folder = CVFolder(cv_dir)
    folds = folder.folds()
    if not folds:
        raise ConfigError(
            "not a CV folder",
            file=cv_dir,
            path="cv_dir",
            expected="a folder written by task=cv (it holds cv.json)",
            fix="run `task=cv` first, or point cv_dir= at its folder, or list models=[...]",
        )
    paths = []
    for fold in folds:
        models_dir = folder.fold_mmar(fold) / "models"
        found = next(
            (p for p in (models_dir / "model.pt", models_dir / "model.ts") if p.is_file()), None
        )
        if found is None:
            raise CheckpointError(
                f"fold {fold} has no model",
                file=models_dir,
                path="cv_dir",
                expected="models/model.pt (or model.ts) in every fold's run folder",
                fix="re-run task=cv on this folder: it trains only the folds that have not finished",
            )
        paths.append(found)
    return paths


def load_member(path: Path, *, paths: RunPaths, allow_code: bool) -> Any:
    """One member, ready to run (eval mode)."""

    try:
        if path.suffix == ".ts":
            return load_torchscript(path).eval()
        checkpoint = load_checkpoint(path)
        network = network_for_checkpoint(checkpoint, None, paths=paths, allow_code=allow_code)
        load_weights(network, state_dict_of(checkpoint), strict=True, file=str(path))
    except CheckpointError as exc:
        exc.what = f"ensemble member {path}: {exc.what}"
        raise
    return network.eval()


def check_same_shapes(members: Sequence[tuple[str, Any]]) -> None:
    """Every member has the first one's parameter names and shapes.

    Raises:
        CheckpointError: names the first member that differs and its first differing key.
    """
    if not members:
        return
    first_name, first = members[0]
    reference = {k: tuple(v.shape) for k, v in first.state_dict().items()}
    for name, network in members[1:]:
        own = {k: tuple(v.shape) for k, v in network.state_dict().items()}
        for key in list(dict.fromkeys([*reference, *own])):
            a, b = reference.get(key), own.get(key)
            if a != b:
                raise CheckpointError(
                    f"ensemble member {name} does not have the network shape of {first_name}: "
                    f"{key} is {b if b is not None else 'missing'} there, "
                    f"{a if a is not None else 'missing'} in {first_name}",
                    file=name,
                    path=key,
                    expected="members of one architecture (the folds of one CV, or exports of it)",
                    fix="ensemble only models trained with the same network settings",
                )
