"""The network an evaluation config points at: TorchScript, a checkpoint, or a spec.

With only a checkpoint, the network is rebuilt from the ``train_conf`` stored in it (Clara's
checkpoints carry it), else from the MMAR's training config, and the weights are loaded
strictly -- a mismatch names the first differing keys and shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmar_hydra.components.builder import build_network
from mmar_hydra.components.parts import HandlerPart, ModelSource
from mmar_hydra.context import resolve_config
from mmar_hydra.errors import ConfigError
from mmar_hydra.reader.mmar_reader import read_mmar
from mmar_hydra.run_paths import RunPaths
from mmar_hydra.writers.checkpoints import load_checkpoint, load_weights, state_dict_of
from mmar_hydra.writers.run_info import say_drift
from mmar_hydra.writers.torchscript import load_torchscript

__all__ = ["load_eval_network", "network_for_checkpoint", "training_config"]


def _json(text: Any) -> dict[str, Any]:
    import json

    try:
        data = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def training_config(mmar_root: Path) -> dict[str, Any]:
    """The MMAR's config_train.json, resolved (used to rebuild a network)."""
    from omegaconf import OmegaConf

    read = read_mmar(mmar_root, task="train")
    return resolve_config(OmegaConf.create(read.config), str(read.config_file))


def network_for_checkpoint(
    checkpoint: Mapping[str, Any],
    config: Mapping[str, Any] | None,
    *,
    paths: RunPaths,
    allow_code: bool,
) -> Any:
    """The network a checkpoint was trained as: its ``train_conf``, else ``config``, else the MMAR's."""

    for conf in (checkpoint.get("train_conf"), config):
        if (
            isinstance(conf, Mapping)
            and isinstance(conf.get("train"), Mapping)
            and "model" in conf["train"]
        ):
            return build_network(conf, paths=paths, allow_code=allow_code)
    conf = training_config(paths.mmar_root)
    return build_network(conf, paths=paths, allow_code=allow_code)


def load_eval_network(
    source: ModelSource | None,
    handlers: list[HandlerPart],
    *,
    paths: RunPaths,
    allow_code: bool,
    say: Any = print,
    file: str | None = None,
) -> Any:
    """The ready-to-run network for a flat validation / inference config (``file``: its path)."""

    if source is None:
        raise ConfigError(
            "the config has no model",
            file=file,
            path="model",
            expected='"model": {"ts_path": ...} | {"ckpt_path": ...} | a network spec',
            fix='add "model": {"ts_path": "{MMAR_TORCHSCRIPT}"} (or ckpt_path) to the config',
        )
    if source.kind == "ts":
        say(f"model: TorchScript {source.path}")
        record = {"metadata.json": ""}
        network = load_torchscript(Path(str(source.path)), extra_files=record)
        say_drift(_json(record["metadata.json"]).get("versions"), str(source.path), say)
        return network
    network = source.network
    loads = [h for h in handlers if h.name == "CheckpointLoader"]
    files = [Path(str(source.path))] if source.kind == "ckpt" else []
    # CheckpointLoader's load_path was resolved against the MMAR by the component resolver
    files += [Path(str(h.args["load_path"])) for h in loads if "load_path" in h.args]
    if network is not None and not files:
        raise ConfigError(
            "the model is a network spec and nothing loads its weights: it would evaluate "
            "randomly initialised weights",
            file=file,
            path="model",
            expected="a CheckpointLoader handler (load_path: {MMAR_CKPT}) or ckpt_path beside "
            "the network spec, or a ts_path model",
            fix="this config is broken as published: add a CheckpointLoader handler, or "
            "validate the TorchScript model (dont_load_ts_model=false dont_load_ckpt_model=true)",
        )
    for path in dict.fromkeys(files):  # the same file named twice is loaded once
        checkpoint = load_checkpoint(path)
        say_drift(checkpoint.get("versions"), path, say)
        if network is None:
            network = network_for_checkpoint(checkpoint, None, paths=paths, allow_code=allow_code)
        report = load_weights(network, state_dict_of(checkpoint), strict=True, file=str(path))
        say(f"model: checkpoint {path} ({report.summary()})")
    if network is None:
        raise ConfigError(
            "no network to evaluate",
            file=file,
            path="model",
            expected="ts_path, ckpt_path or a network spec",
            fix="enable one of the model alternatives (dont_load_ts_model=false or "
            "dont_load_ckpt_model=false)",
        )
    return network.eval()
