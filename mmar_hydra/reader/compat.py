"""Translations of what MONAI renamed or removed since Clara Train 4.x.

Real MMARs name ``UNet(dimensions=...)``, ``AsDiscreted(n_classes=...)``, ``AddChanneld``,
meta-dict keys and ``"device": "cuda"``. Running them unmodified means rewriting those into
today's MONAI, and saying so: every rewrite yields one :class:`CompatNote` naming the file,
the JSON path (of the file as written) and the replacement. MONAI and torch are imported
only when a rule needs to look at a class or at the GPU, so reading stays fast.
"""

from __future__ import annotations

import copy
import functools
import inspect
import re
from dataclasses import dataclass
from typing import Any

from mmar_hydra.errors import ConfigError, json_path
from mmar_hydra.reader.compat_code import rewrite_code_calls
from mmar_hydra.reader.compat_deepgrow import DEEPGROW_RULES, loaders_with_meta_dict
from mmar_hydra.reader.compat_inversion import INVERSION_RULES, handler_to_transforms
from mmar_hydra.reader.compat_pathology import PATHOLOGY_RULES, translate_pathology

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


# (what, replacement, why) rows, for the README's compat table
COMPAT_RULES: list[tuple[str, str, str]] = [
    ("`dimensions` (networks, any class that now takes it)", "`spatial_dims`", "renamed"),
    ("AsDiscrete(d) `n_classes` / `num_classes`", "folded into int `to_onehot`", "removed"),
    ("AsDiscrete(d) `to_onehot: true`", "`to_onehot: <number of classes>`", "bool form removed"),
    ("AsDiscrete(d) `threshold_values` + `logit_thresh`", "`threshold`", "merged"),
    ("`LoadNifti(d)` (4.0 early access)", '`LoadImage(d)(reader="NibabelReader")`', "removed"),
    ("`LoadNumpy(d)` (4.0 early access)", '`LoadImage(d)(reader="NumpyReader")`', "removed"),
    ("`LoadPNG(d)` (4.0 early access)", '`LoadImage(d)(reader="PILReader")`', "removed"),
    ("`AddChannel(d)`", '`EnsureChannelFirst(d)(channel_dim="no_channel")`', "removed"),
    ("`AsChannelFirst(d)`", "`EnsureChannelFirst(d)(channel_dim=...)`", "removed"),
    ("`SplitChannel(d)`", "`SplitDim(d)(dim=...)`", "removed"),
    ("`meta_keys`/`meta_key_postfix`/`as_tensor_output` a class no longer takes", "dropped", ""),
    ('`meta_keys: "*_meta_dict"` on Invertd / SaveImaged', "dropped", "MetaTensor"),
    ("`batch_transform` reading `*_meta_dict`", "dropped", "filenames come from MetaTensor"),
    ("TransformInverter / SegmentationSaver handlers", "Invertd / SaveImaged post transforms", ""),
    ('`"device": "cuda"` with no GPU', '`"cpu"`', "no CUDA device"),
    ("Spacingd / Orientationd before EnsureChannelFirstd", "moved after it", "channel-first"),
    (
        "`ToTensor(d)` in a config that uses `Invertd`",
        "`EnsureType(d)`",
        "ToTensord's inverse returns numpy",
    ),
    (
        "the calls above inside code strings (`lambda x: __import__('monai').transforms."
        "AsDiscrete(argmax=True, to_onehot=True, n_classes=2)(x)`)",
        "the same rewrite of the call, with `ast`",
        "issue #33",
    ),
    # -- issue #15, developer C: digital pathology (rules in reader/compat_pathology.py) --
    *PATHOLOGY_RULES,
    # -- issue #15, developer B: deepgrow, custom/ imports (rules in reader/compat_deepgrow.py)
    *DEEPGROW_RULES,
    *INVERSION_RULES,
]

# removed transform -> (replacement, arg renames, args added when absent)
_RENAMED_TRANSFORMS: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = {
    # MONAI 0.4's loaders (Clara 4.0 early access): one LoadImage(d) with the matching reader
    "LoadNiftid": ("LoadImaged", {}, {"reader": "NibabelReader"}),
    "LoadNifti": ("LoadImage", {}, {"reader": "NibabelReader"}),
    "LoadNumpyd": ("LoadImaged", {}, {"reader": "NumpyReader"}),
    "LoadNumpy": ("LoadImage", {}, {"reader": "NumpyReader"}),
    "LoadPNGd": ("LoadImaged", {}, {"reader": "PILReader"}),
    "LoadPNG": ("LoadImage", {}, {"reader": "PILReader"}),
    "AddChanneld": ("EnsureChannelFirstd", {}, {"channel_dim": "no_channel"}),
    "AddChannel": ("EnsureChannelFirst", {}, {"channel_dim": "no_channel"}),
    "AsChannelFirstd": ("EnsureChannelFirstd", {}, {"channel_dim": -1}),
    "AsChannelFirst": ("EnsureChannelFirst", {}, {"channel_dim": -1}),
    "SplitChanneld": ("SplitDimd", {"channel_dim": "dim"}, {}),
    "SplitChannel": ("SplitDim", {"channel_dim": "dim"}, {}),
}
_RENAMED_ARGS = {"dimensions": "spatial_dims"}
# batched (issue #15, deepgrow): MONAI's click transforms lost it when its Interaction began
# running them case by case
_DROPPED_ARGS: tuple[str, ...] = (
    "meta_keys",
    "meta_key_postfix",
    "orig_meta_keys",
    "as_tensor_output",
    "batched",
)
# the class names whose calls inside code strings the component rules rewrite
_CODE_CALLS = frozenset({*_RENAMED_TRANSFORMS, "AsDiscrete", "AsDiscreted"})
_META_DICT = re.compile(r"_meta_dict\b|\bmeta_dict\b")
_CHANNEL_FIRST = {"EnsureChannelFirstd", "EnsureChannelFirst"}
_NEEDS_CHANNEL = {"Spacingd", "Orientationd", "Spacing", "Orientation"}
_MONAI_MODULES = (
    "monai.networks.nets",
    "monai.transforms",
    "monai.losses",
    "monai.inferers",
    "monai.apps.deepgrow.transforms",  # developer B: deepgrow's transforms, by path
)


@functools.cache
def _params(name: str) -> tuple[frozenset[str], bool] | None:
    """(constructor parameter names, takes **kwargs) of MONAI class ``name``, None if unknown."""
    import importlib

    for module in _MONAI_MODULES:
        cls = getattr(importlib.import_module(module), name, None)
        if inspect.isclass(cls):
            try:
                params = inspect.signature(cls.__init__).parameters
            except (TypeError, ValueError):
                return None
            var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
            return frozenset(params), var_kw
    return None


@functools.cache
def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _short(comp: dict[str, Any]) -> str:
    """The class name a component builds: ``path`` wins over ``name`` (then only an id)."""
    path = comp.get("path")
    if isinstance(path, str) and path:
        return path.rsplit(".", 1)[-1] if path.startswith("monai.") else ""
    name = comp.get("name") or comp.get("ref") or ""
    return str(name).rsplit(".", 1)[-1]


class _Translator:
    def __init__(self, file: str) -> None:
        self.file = file
        self.notes: list[CompatNote] = []

    def note(self, path: str, old: str, new: str, reason: str) -> None:
        self.notes.append(CompatNote(self.file, path, old, new, reason))

    # -- one component ---------------------------------------------------------------
    def component(self, comp: dict[str, Any], path: str) -> None:
        short = _short(comp)
        if short in _RENAMED_TRANSFORMS:
            self.rename(comp, short, path)
            short = _short(comp)
        args = comp.get("args")
        if not isinstance(args, dict) or not short:
            return
        a_path = json_path(path, "args")
        if short in ("AsDiscreted", "AsDiscrete"):
            self.as_discrete(args, a_path)
        self.unsupported_args(short, args, a_path)
        if short in ("Invertd", "SaveImaged"):
            for key in ("meta_keys", "meta_key_postfix", "orig_meta_keys"):
                value = args.get(key)
                if value is not None and _META_DICT.search(str(value)):
                    del args[key]
                    self.note(
                        json_path(a_path, key),
                        f"{key}={value!r}",
                        "(dropped)",
                        "MetaTensor carries the metadata",
                    )
        value = args.get("batch_transform")
        if isinstance(value, str) and _META_DICT.search(value):
            del args["batch_transform"]
            self.note(
                json_path(a_path, "batch_transform"),
                repr(value),
                "(dropped)",
                "there are no meta dicts in a MetaTensor batch; file names come from image.meta",
            )

    def rename(self, comp: dict[str, Any], short: str, path: str) -> None:
        new, arg_renames, added = _RENAMED_TRANSFORMS[short]
        if "ref" in comp and "name" not in comp:
            comp["ref"] = new  # the train transform it points at is renamed too
            self.note(json_path(path, "ref"), short, new, "removed from MONAI")
            return
        comp["name"] = new
        args = comp.setdefault("args", {})
        if not isinstance(args, dict):  # the resolver says what args must be
            self.note(json_path(path, "name"), short, new, "removed from MONAI")
            return
        for old_arg, new_arg in arg_renames.items():
            if old_arg in args:
                args[new_arg] = args.pop(old_arg)
        for key, value in added.items():
            args.setdefault(key, value)
        shown = ", ".join(f"{k}={args[k]!r}" for k in (*arg_renames.values(), *added) if k in args)
        self.note(json_path(path, "name"), short, f"{new}({shown})", "removed from MONAI")

    def unsupported_args(self, short: str, args: dict[str, Any], path: str) -> None:
        """Rename or drop old args the current MONAI class no longer takes."""
        if not any(k in args for k in (*_RENAMED_ARGS, *_DROPPED_ARGS)):
            return  # no MONAI import needed
        found = _params(short)
        if found is None:
            return
        params, var_kw = found
        for old, new in _RENAMED_ARGS.items():
            if old in args and old not in params and new in params and new not in args:
                args[new] = args.pop(old)
                self.note(json_path(path, old), old, new, f"renamed in MONAI's {short}")
        for key in _DROPPED_ARGS:
            if key in args and key not in params and not var_kw:
                value = args.pop(key)
                self.note(
                    json_path(path, key),
                    f"{key}={value!r}",
                    "(dropped)",
                    f"MONAI's {short} no longer takes it",
                )

    def as_discrete(self, args: dict[str, Any], path: str) -> None:
        classes: Any = None
        key = ""
        for key in ("n_classes", "num_classes"):
            if key in args:
                classes = args.pop(key)
                break
        onehot = args.get("to_onehot")
        flags = onehot if isinstance(onehot, list) else [onehot]
        if classes is None and any(v is True for v in flags):
            raise ConfigError(
                "to_onehot=true needs the number of classes, and n_classes is not given",
                file=self.file,
                path=json_path(path, "to_onehot"),
                expected="to_onehot: <number of classes> (e.g. 2)",
                fix="write the class count: to_onehot: 2",
            )
        if isinstance(onehot, list):
            per_key = classes if isinstance(classes, list) else [classes] * len(onehot)
            args["to_onehot"] = [_onehot(v, n) for v, n in zip(onehot, per_key, strict=False)]
        elif onehot is not None:
            args["to_onehot"] = _onehot(onehot, classes)
        if args.get("to_onehot") != onehot:
            self.note(
                json_path(path, "to_onehot"),
                f"to_onehot={onehot!r}",
                f"to_onehot={args['to_onehot']!r}",
                "MONAI's to_onehot is now the number of classes",
            )
        if classes is not None:
            self.note(
                json_path(path, key),
                f"{key}={classes!r}",
                f"to_onehot={args.get('to_onehot')!r}",
                f"MONAI's AsDiscrete no longer takes {key}; to_onehot carries the class count",
            )
        if "threshold_values" in args or "logit_thresh" in args:
            on = args.pop("threshold_values", False)
            thresh = args.pop("logit_thresh", 0.5)
            if isinstance(on, list):
                values = thresh if isinstance(thresh, list) else [thresh] * len(on)
                args["threshold"] = [t if v else None for v, t in zip(on, values, strict=False)]
            elif on:
                args["threshold"] = thresh
            self.note(
                json_path(path, "threshold_values"),
                f"threshold_values={on!r}, logit_thresh={thresh!r}",
                f"threshold={args.get('threshold')!r}",
                "merged into threshold in MONAI",
            )

    # -- code strings ----------------------------------------------------------------
    def code_string(self, text: str, path: str) -> str:
        """``text`` with the component rules applied to the MONAI calls inside it."""

        def translate(comp: dict[str, Any]) -> list[str]:
            sub = _Translator(self.file)
            try:
                sub.component(comp, path)
            except ConfigError as exc:
                raise ConfigError(
                    f"in the code string {text!r}: {exc.what}",
                    file=self.file,
                    path=path,
                    expected=exc.expected,
                    fix=exc.fix,
                ) from None
            return list(dict.fromkeys(note.reason for note in sub.notes))

        new, rewrites = rewrite_code_calls(text, _CODE_CALLS, translate)
        for rewrite in rewrites:
            self.note(
                path, rewrite.old, rewrite.new, "in a code string: " + "; ".join(rewrite.reasons)
            )
        return new

    # -- the whole tree --------------------------------------------------------------
    def walk(self, obj: Any, path: str) -> None:
        if isinstance(obj, dict):
            if isinstance(obj.get("name"), str) or isinstance(obj.get("ref"), str):
                self.component(obj, path)
            for key, value in obj.items():
                sub = json_path(path, str(key))
                if key == "device" and isinstance(value, str) and value.startswith("cuda"):
                    if not _cuda_available():
                        obj[key] = "cpu"
                        self.note(sub, f'"{value}"', '"cpu"', "this machine has no CUDA device")
                    continue
                if isinstance(value, str):
                    obj[key] = self.code_string(value, sub)
                else:
                    self.walk(value, sub)
        elif isinstance(obj, list):
            for i, value in enumerate(obj):
                if isinstance(value, str):
                    obj[i] = self.code_string(value, json_path(path, i))
                else:
                    self.walk(value, json_path(path, i))
            # after the items: AddChanneld has become EnsureChannelFirstd by now
            self.reorder_channel_first(obj, path)
            loaders_with_meta_dict(obj, path, self.note)  # developer B: deepgrow's meta dicts

    def reorder_channel_first(self, items: list[Any], path: str) -> None:
        """Move spatial transforms that precede EnsureChannelFirstd to just after it."""
        names = [_short(x) if isinstance(x, dict) else "" for x in items]
        first = next((i for i, n in enumerate(names) if n in _CHANNEL_FIRST), None)
        early = [i for i in range(first or 0) if names[i] in _NEEDS_CHANNEL]
        if first is None or not early:
            return
        moved = [items[i] for i in early]
        rest = [x for i, x in enumerate(items) if i not in early]
        at = rest.index(items[first]) + 1
        items[:] = rest[:at] + moved + rest[at:]
        for i in early:
            self.note(
                json_path(path, i),
                names[i],
                f"moved after {names[first]}",
                "current MONAI's spatial transforms need channel-first data",
            )

    # -- Clara 4.0 handlers that became post transforms ------------------------------
    def saver_handlers(self, section: dict[str, Any], where: str) -> None:
        handlers = section.get("handlers")
        if not isinstance(handlers, list) or not isinstance(
            section.get("post_transforms", []), list
        ):
            return  # the resolver reports a section that is not what it should be
        kept = []
        for i, handler in enumerate(handlers):
            name = _short(handler) if isinstance(handler, dict) else ""
            if name in ("TransformInverter", "SegmentationSaver"):
                posts = handler_to_transforms(name, handler)
                section.setdefault("post_transforms", []).extend(posts)
                self.note(
                    json_path(where, "handlers", i),
                    f"{name} handler",
                    " + ".join(p["name"].rsplit(".", 1)[-1] for p in posts)
                    + f" at the end of {json_path(where, 'post_transforms')}",
                    "the ignite handler left MONAI; the post transforms do the same job",
                )
            else:
                kept.append(handler)
        section["handlers"] = kept


def _onehot(value: Any, classes: Any) -> Any:
    """Clara's ``to_onehot`` (bool, or int) as MONAI's (class count or None)."""
    if value is True:
        return classes
    if value is False:
        return None
    return value


def _sections(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(config.get("train"), dict):
        return [(k, config[k]) for k in ("train", "validate") if isinstance(config.get(k), dict)]
    return [("", config)]


def apply_compat(config: dict[str, Any], *, file: str) -> tuple[dict[str, Any], list[CompatNote]]:
    """A translated copy of ``config`` and one note per translation; the input is not changed."""
    out = copy.deepcopy(config)
    translator = _Translator(file)
    translate_pathology(out, translator.note)  # issue #15, developer C: whole-slide components
    translator.walk(out, "")
    for where, section in _sections(out):
        translator.saver_handlers(section, where)
    if _uses(out, "Invertd"):
        _to_tensor_for_invertd(translator, out, "")
    return out, translator.notes


def _uses(obj: Any, name: str) -> bool:
    if isinstance(obj, dict):
        return obj.get("name") == name or any(_uses(v, name) for v in obj.values())
    return isinstance(obj, list) and any(_uses(v, name) for v in obj)


def _to_tensor_for_invertd(translator: _Translator, obj: Any, path: str) -> None:
    """ToTensord's inverse now turns data into numpy and breaks Invertd: use EnsureTyped."""
    if isinstance(obj, dict):
        for key in ("name", "ref"):
            name = str(obj.get(key, ""))
            if name in ("ToTensord", "ToTensor"):
                obj[key] = "EnsureTyped" if name.endswith("d") else "EnsureType"
                translator.note(
                    path, name, obj[key], "ToTensord's inverse returns numpy, breaking Invertd"
                )
        for key, value in obj.items():
            _to_tensor_for_invertd(translator, value, json_path(path, str(key)))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            _to_tensor_for_invertd(translator, value, json_path(path, i))
