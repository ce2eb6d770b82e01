"""The bundle's config files: train, multi_gpu_train, evaluate, inference and logging.

Each is built from the MMAR config after the reader (compat translations applied, so today's
MONAI names), in the layout of MONAI's model zoo and with the ids of its bundle properties
(``bundle_root``, ``device``, ``dataset_dir``, ``network_def``, ``train#trainer``, ...), so
``monai.bundle`` workflows, MONAI Label and MONAI Deploy find what they look for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmar_hydra.bundle.components import Section
from mmar_hydra.bundle.report import ConversionReport
from mmar_hydra.bundle.values import ENV_IDS, RESERVED_IDS, Scope, section_ids
from mmar_hydra.reader.variables import split_globals

__all__ = ["ConfigSource", "BundleConfigs", "LOGGING_CONF", "HEADER_IDS"]

LOGGING_CONF = """[loggers]
keys=root

[handlers]
keys=consoleHandler

[formatters]
keys=fullFormatter

[logger_root]
level=INFO
handlers=consoleHandler

[handler_consoleHandler]
class=StreamHandler
level=INFO
formatter=fullFormatter
args=(sys.stdout,)

[formatter_fullFormatter]
format=%(asctime)s - %(name)s - %(levelname)s - %(message)s
"""
_PATH_IDS = {
    "ckpt_dir": "$@bundle_root + '/models'",
    "ckpt_path": "$@ckpt_dir + '/model.pt'",
    "ts_path": "$@ckpt_dir + '/model.ts'",
    "output_dir": "$@bundle_root + '/eval'",
}
HEADER_IDS = ("imports", "bundle_root", *_PATH_IDS, "dataset_dir", "datalist_file", "device")
_SECTION_ORDER = (
    "pre_transforms",
    "dataset",
    "dataloader",
    "inferer",
    "post_transforms",
    "handlers",
    "key_metric",
    "additional_metrics",
    "trainer",
    "evaluator",
)
_TOP = ("model", "loss", "optimizer", "lr_scheduler")


@dataclass
class ConfigSource:
    """One MMAR config file: as the reader wrote it (``${VAR}``s kept) and resolved."""

    file: str
    raw: dict[str, Any]
    resolved: dict[str, Any]


@dataclass
class BundleConfigs:
    """Builds the bundle's config dicts from the MMAR's training (and flat) configs.

    Args:
        root: the MMAR root (relative data paths resolve against it).
        train: the training config.
        network_def: the network as trained (bundle syntax), when it differs from ``train``'s.
        custom: top-level module names of the MMAR's ``custom/`` folder.
        report: the conversion report.
    """

    root: Path
    train: ConfigSource
    custom: frozenset[str]
    report: ConversionReport
    network_def: dict[str, Any] | None = None
    train_lists: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    ranks: dict[str, list[Any]] = field(default_factory=dict)

    # -- shared pieces ------------------------------------------------------------------
    def _variables(self, source: ConfigSource) -> tuple[dict[str, str], dict[str, Any]]:
        """Clara variable -> bundle id, and the top-level ids with their bundle values."""
        globals_, _ = split_globals({k: v for k, v in source.raw.items() if k != "mmar_source"})
        ids = {}
        for name in globals_:
            if name in ENV_IDS:
                ids[name] = ENV_IDS[name]
            elif name in RESERVED_IDS:
                ids[name] = f"mmar_{name}"
                self.report.add(
                    "changed", f"{source.file}: {name}", f"global renamed mmar_{name} (a bundle id)"
                )
            else:
                ids[name] = name
        scope = Scope(source.file, "", {}, ids, self.report)
        values = {
            ids[k]: scope.value(v, k)
            for k, v in globals_.items()
            if k not in ENV_IDS and k != "PROCESSING_TASK"
        }
        return ids, values

    def _header(self, source: ConfigSource) -> dict[str, Any]:
        res = source.resolved
        data_root = res.get("DATA_ROOT")
        datalist = res.get("DATASET_JSON")
        header: dict[str, Any] = {"imports": ["$import glob", "$import os"], "bundle_root": "."}
        header.update(_PATH_IDS)
        if datalist:
            header["datalist_file"] = str((self.root / str(datalist)).resolve())
        base = data_root or (Path(str(datalist)).parent if datalist else ".")
        header["dataset_dir"] = str((self.root / str(base)).resolve())
        gpu = "torch.cuda.is_available()"
        if "use_gpu" in res:
            gpu += " and @use_gpu"
        header["device"] = f"$torch.device('cuda:0' if {gpu} else 'cpu')"
        for clara, bid in ENV_IDS.items():
            if clara in res and bid in header and clara not in ("DATA_ROOT", "DATASET_JSON"):
                self.report.add(
                    "info",
                    f"{source.file}: {clara}",
                    f"{clara}={res[clara]} -> @{bid} ({header[bid]}): bundle layout",
                )
        return header

    def _initialize(self, source: ConfigSource, extra: list[str]) -> list[str]:
        out = []
        det = source.resolved.get("determinism")
        if isinstance(det, Mapping) and "random_seed" in det:
            seed = "@determinism#random_seed" if "determinism" in source.raw else det["random_seed"]
            out.append(f"$monai.utils.set_determinism(seed={seed})")
        if "cudnn_benchmark" in source.raw:
            out.append("$setattr(torch.backends.cudnn, 'benchmark', @cudnn_benchmark)")
        return out + extra

    def _section(
        self, source: ConfigSource, name: str, ids: dict[str, str], fallback: dict[str, str]
    ) -> tuple[dict[str, Any], Section]:
        raw = source.raw[name] if name else source.raw
        res = source.resolved[name] if name else source.resolved
        keys = [k for k in raw if isinstance(raw[k], dict | list) and k != "mmar_source"]
        scope = Scope(source.file, name, section_ids(name, keys), ids, self.report, fallback)
        section = Section(raw, res, scope, self.custom, self.train_lists)
        out = {}
        ordered = [k for k in _SECTION_ORDER if k in keys] + [
            k for k in keys if k not in _SECTION_ORDER and k not in _TOP and k != "model"
        ]
        for key in ordered:
            out[scope.ids[key].split("#")[-1]] = section.translate(key)
        return out, section

    def plain_component(self, spec: Mapping[str, Any], where: str) -> Any:
        """A resolved Clara component (no variables left) in bundle syntax."""
        scope = Scope(self.train.file, "train", {}, {}, self.report)
        return Section({}, {}, scope, self.custom).component(spec, spec, where)

    # -- the files ---------------------------------------------------------------------
    def train_json(self) -> dict[str, Any]:
        src = self.train
        ids, globals_ = self._variables(src)
        config = {**self._header(src), **globals_}
        train_keys = [k for k in src.raw["train"] if isinstance(src.raw["train"][k], dict | list)]
        top = section_ids("train", train_keys)
        train_section, train = self._section(src, "train", ids, {})
        for key in _TOP:
            if key in src.raw["train"]:
                item = train.translate(key)
                config["network_def" if key == "model" else key] = item
        if self.network_def is not None:
            config["network_def"] = self.network_def
        config["network"] = "$@network_def.to(@device)"
        self.train_lists = train.kept
        config["train"] = train_section
        trainer = train_section.get("trainer")
        if isinstance(trainer, dict) and "max_epochs" not in trainer:  # Clara passed `epochs`
            trainer["max_epochs"] = "@epochs" if "epochs" in config else 1
            self.report.add(
                "changed",
                f"{src.file}: train.trainer",
                f"no max_epochs (Clara passed the epochs global): {trainer['max_epochs']}",
            )
        self.ranks["train"] = train.ranks.get("handlers", [])
        for handler in train_section.get("handlers", []):  # the val_interval bundle property
            if str(handler.get("_target_")).endswith("ValidationHandler") and "interval" in handler:
                config["val_interval"] = handler["interval"]
                handler["interval"] = "@val_interval"
        if isinstance(src.raw.get("validate"), Mapping) and src.raw["validate"]:
            fallback = {k: v for k, v in top.items()}
            config["validate"], val = self._section(src, "validate", ids, fallback)
            self.ranks["validate"] = val.ranks.get("handlers", [])
        config["initialize"] = self._initialize(src, [])
        config["run"] = ["$@train#trainer.run()"]
        return config

    def multi_gpu_train_json(self) -> dict[str, Any]:
        """Overrides of train.json for torchrun (DDP; NCCL on GPUs, gloo on CPUs)."""
        out: dict[str, Any] = {
            "device": "$torch.device(f'cuda:{dist.get_rank()}') if torch.cuda.is_available() "
            "else torch.device('cpu')",
            "network": {
                "_target_": "torch.nn.parallel.DistributedDataParallel",
                "module": "$@network_def.to(@device)",
                "device_ids": "$[@device] if torch.cuda.is_available() else None",
            },
        }
        for name, shuffle in (("train", True), ("validate", False)):
            if name not in self.ranks:
                continue
            out[f"{name}#sampler"] = {
                "_target_": "DistributedSampler",
                "dataset": f"@{name}#dataset",
                "even_divisible": shuffle,
                "shuffle": shuffle,
            }
            out[f"{name}#dataloader#sampler"] = f"@{name}#sampler"
            out[f"{name}#dataloader#shuffle"] = False
            out[f"{name}#handler_ranks"] = self.ranks[name]
            engine = "trainer#train_handlers" if name == "train" else "evaluator#val_handlers"
            out[f"{name}#{engine}"] = (
                f"$[h for h, r in zip(@{name}#handlers, @{name}#handler_ranks) "
                "if r is None or int(r) == dist.get_rank()]"
            )
        out["initialize"] = [
            "$import torch.distributed as dist",
            "$dist.is_initialized() or dist.init_process_group("
            "backend='nccl' if torch.cuda.is_available() else 'gloo')",
            "$torch.cuda.set_device(@device) if torch.cuda.is_available() else None",
            *self._initialize(self.train, []),
        ]
        out["run"] = ["$@train#trainer.run()"]
        out["finalize"] = ["$dist.is_initialized() and dist.destroy_process_group()"]
        return out

    def flat_json(self, source: ConfigSource, network_def: dict[str, Any]) -> dict[str, Any]:
        """evaluate.json / inference.json from config_validation / config_inference.json."""
        ids, globals_ = self._variables(source)
        config = {**self._header(source), **globals_, "network_def": network_def}
        config["network"] = "$@network_def.to(@device)"
        model = source.raw.get("model")
        options = model if isinstance(model, list) else [model] if model else []
        if any(isinstance(m, Mapping) and ("name" in m or "path" in m) for m in options):
            self.report.add("info", f"{source.file}: model", "network spec replaced by network_def")
        elif options:
            self.report.add(
                "changed",
                f"{source.file}: model",
                "ts_path / ckpt_path alternatives -> network_def with models/model.pt loaded "
                "by a CheckpointLoader (models/model.ts ships beside it when it is the export of "
                "that checkpoint)",
            )
        body, _ = self._section(source, "", ids, {"model": "network"})
        config.update(body)
        config["checkpointloader"] = {
            "_target_": "CheckpointLoader",
            "load_path": "@ckpt_path",
            "load_dict": {"model": "@network"},
            "map_location": "@device",
        }
        config["initialize"] = self._initialize(source, ["$@checkpointloader(@evaluator)"])
        config["run"] = ["$@evaluator.run()"]
        return config
