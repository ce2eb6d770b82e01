"""Translations of what MONAI renamed or removed since Clara Train 4.x.

Real MMARs name ``UNet(dimensions=...)``, ``AsDiscreted(n_classes=...)``, ``AddChanneld``,
meta-dict keys and ``"device": "cuda"``. Running them unmodified means rewriting those into
today's MONAI, and saying so: every rewrite yields one :class:`CompatNote` naming the file,
the JSON path and the replacement.
"""

from __future__ import annotations

import copy
import functools
import inspect
from dataclasses import dataclass
from typing import Any

from mmar_hydra.errors import json_path

__all__ = ["CompatNote", "apply_compat", "COMPAT_RULES"]


@dataclass(frozen=True)
class CompatNote:
    """One translation applied to one place of one file."""

    file: str
    path: str
    old: str
    new: str
    reason: str

    def format(self) -> str:
        return f"{self.file}: {self.path}: {self.old} -> {self.new} ({self.reason})"


# (description, old, new, reason) rows for the README's compat table
COMPAT_RULES: list[tuple[str, str, str]] = [
    ("network `dimensions`", "`spatial_dims`", "renamed in MONAI 0.6-1.0"),
    (
        "AsDiscrete(d) `n_classes`",
        "`num_classes` (folded into int `to_onehot`)",
        "renamed in MONAI 0.9",
    ),
    ("AsDiscrete(d) `to_onehot: true`", "`to_onehot: <number of classes>`", "bool form removed"),
    ("AsDiscrete(d) `threshold_values` + `logit_thresh`", "`threshold`", "merged in MONAI 0.9"),
    (
        "`AddChanneld` / `AddChannel`",
        '`EnsureChannelFirstd(channel_dim="no_channel")`',
        "removed in MONAI 1.3",
    ),
    (
        "`AsChannelFirstd` / `AsChannelFirst`",
        "`EnsureChannelFirstd(channel_dim=...)`",
        "removed in MONAI 1.3",
    ),
    (
        '`meta_keys: "*_meta_dict"` on Invertd / SaveImaged',
        "dropped",
        "MetaTensor carries the metadata",
    ),
    ('`"device": "cuda"` with no GPU', '`"cpu"`', "the machine has no CUDA device"),
    (
        "Spacingd / Orientationd before EnsureChannelFirstd",
        "moved after it",
        "current MONAI needs channel-first data",
    ),
]

_CHANNEL_FIRST = {"EnsureChannelFirstd", "EnsureChannelFirst"}
_NEEDS_CHANNEL = {"Spacingd", "Orientationd", "Spacing", "Orientation"}


@functools.cache
def _network_takes_spatial_dims(name: str) -> bool:
    try:
        import monai.networks.nets as nets

        cls = getattr(nets, name.rsplit(".", 1)[-1], None)
        params = inspect.signature(cls.__init__).parameters if cls else {}
    except (ImportError, TypeError, ValueError):
        return False
    return "spatial_dims" in params and "dimensions" not in params


@functools.lru_cache(maxsize=1)
def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        return False


class _Translator:
    def __init__(self, file: str) -> None:
        self.file = file
        self.notes: list[CompatNote] = []

    def note(self, path: str, old: str, new: str, reason: str) -> None:
        self.notes.append(CompatNote(self.file, path, old, new, reason))

    # -- per component ---------------------------------------------------------------
    def component(self, comp: dict[str, Any], path: str) -> None:
        name = str(comp.get("name", ""))
        args = comp.get("args")
        short = name.rsplit(".", 1)[-1]
        if short in ("AddChanneld", "AddChannel"):
            comp["name"] = "EnsureChannelFirstd" if short.endswith("d") else "EnsureChannelFirst"
            comp.setdefault("args", {})["channel_dim"] = "no_channel"
            self.note(
                path, short, f'{comp["name"]}(channel_dim="no_channel")', "removed in MONAI 1.3"
            )
        elif short in ("AsChannelFirstd", "AsChannelFirst"):
            comp["name"] = "EnsureChannelFirstd" if short.endswith("d") else "EnsureChannelFirst"
            args = comp.setdefault("args", {})
            args["channel_dim"] = args.pop("channel_dim", -1)
            self.note(
                path,
                short,
                f"{comp['name']}(channel_dim={args['channel_dim']})",
                "removed in MONAI 1.3",
            )
        if not isinstance(args, dict):
            return
        a_path = json_path(path, "args")
        if "dimensions" in args and _network_takes_spatial_dims(short):
            args["spatial_dims"] = args.pop("dimensions")
            self.note(
                json_path(a_path, "dimensions"), "dimensions", "spatial_dims", "renamed in MONAI"
            )
        if short in ("AsDiscreted", "AsDiscrete"):
            self.as_discrete(args, a_path)
        if short in ("Invertd", "SaveImaged"):
            for key in ("meta_keys", "meta_key_postfix"):
                value = args.get(key)
                text = value if isinstance(value, str) else " ".join(map(str, value or []))
                if value is not None and "meta_dict" in text:
                    del args[key]
                    self.note(
                        json_path(a_path, key),
                        f"{key}={value!r}",
                        "(dropped)",
                        "MetaTensor carries the metadata",
                    )

    def as_discrete(self, args: dict[str, Any], path: str) -> None:
        n_classes = args.pop("n_classes", None)
        if n_classes is None:
            n_classes = args.pop("num_classes", None)
        else:
            self.note(
                json_path(path, "n_classes"), "n_classes", "to_onehot=<int>", "renamed in MONAI"
            )
        onehot = args.get("to_onehot")
        if isinstance(onehot, list):
            args["to_onehot"] = [self._onehot(v, n_classes, path) for v in onehot]
        elif onehot is not None:
            args["to_onehot"] = self._onehot(onehot, n_classes, path)
        if "threshold_values" in args or "logit_thresh" in args:
            on = args.pop("threshold_values", False)
            thresh = args.pop("logit_thresh", 0.5)
            if isinstance(on, list):
                args["threshold"] = [thresh if v else None for v in on]
            elif on:
                args["threshold"] = thresh
            self.note(
                json_path(path, "threshold_values"),
                "threshold_values/logit_thresh",
                f"threshold={args.get('threshold')}",
                "merged in MONAI",
            )

    def _onehot(self, value: Any, n_classes: Any, path: str) -> Any:
        if value is True:
            self.note(
                json_path(path, "to_onehot"),
                "to_onehot=true",
                f"to_onehot={n_classes}",
                "bool form removed in MONAI",
            )
            return n_classes
        if value is False:
            return None
        return value

    # -- whole tree ------------------------------------------------------------------
    def walk(self, obj: Any, path: str) -> None:
        if isinstance(obj, dict):
            if "name" in obj and isinstance(obj.get("name"), str):
                self.component(obj, path)
            for key, value in obj.items():
                sub = json_path(path, str(key))
                if key == "device" and isinstance(value, str) and value.startswith("cuda"):
                    if not _cuda_available():
                        obj[key] = "cpu"
                        self.note(sub, f'"{value}"', '"cpu"', "this machine has no CUDA device")
                    continue
                self.walk(value, sub)
        elif isinstance(obj, list):
            self.reorder_channel_first(obj, path)
            for i, value in enumerate(obj):
                self.walk(value, json_path(path, i))

    def reorder_channel_first(self, items: list[Any], path: str) -> None:
        """Move spatial transforms that precede EnsureChannelFirstd to just after it."""
        names = [_transform_name(x) for x in items]
        if not any(n in _CHANNEL_FIRST for n in names):
            return
        first = next(i for i, n in enumerate(names) if n in _CHANNEL_FIRST)
        early = [i for i in range(first) if names[i] in _NEEDS_CHANNEL]
        if not early:
            return
        moved = [items[i] for i in early]
        rest = [x for i, x in enumerate(items) if i not in early]
        at = rest.index(items[first]) + 1
        items[:] = rest[:at] + moved + rest[at:]
        for i in early:
            self.note(
                json_path(path, i),
                names[i],
                f"after {names[first]}",
                "current MONAI's spatial transforms need channel-first data",
            )


def _transform_name(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("name") or item.get("ref") or "").rsplit(".", 1)[-1]
    return ""


def apply_compat(config: dict[str, Any], *, file: str) -> tuple[dict[str, Any], list[CompatNote]]:
    """A translated copy of ``config`` and one note per translation; the input is not changed."""
    out = copy.deepcopy(config)
    translator = _Translator(file)
    translator.walk(out, "")
    return out, translator.notes
