"""Per-class preparation of a component's args: named hooks, run by check and build alike.

Clara's framework filled some args itself: the dataset's ``data`` from its datalist, a
PersistentDataset's ``cache_dir``, paths relative to the MMAR. Each such rule is a
:class:`Hook` here, written once; the resolver runs every applicable hook in the same walk
whether it checks (``instantiate=False``) or builds, so the two cannot disagree.

| hook | applies to | does |
|---|---|---|
| ``datalist`` | a spec with ``data_list_file_path`` | loads the split, checks its files exist, gives each DDP rank its shard, as ``args["data"]`` |
| ``persistent_cache_dir`` | PersistentDataset (and subclasses) without ``cache_dir`` | the default cache folder (:meth:`RunPaths.cache_dir`) |
| ``paths`` | any component or handler | write args (``save_dir``, ``output_dir``...) through :meth:`RunPaths.write`, read args through :meth:`RunPaths.read` |
| ``class_name_args`` | any component, without allow_code | ``reader=`` / ``writer=`` strings limited to MONAI's own classes |
| ``cache_estimate`` | CacheDataset (and subclasses), when built | stops before the cache outgrows the memory |
| ``bad_cases`` | MONAI's pipeline datasets, built by ``build_train`` / ``build_eval`` | the transform chain as a ``faults.case_guard.CaseGuard``: a case that fails becomes a marker naming its datalist entry |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmar_hydra.components.cache_estimate import check_cache_fits
from mmar_hydra.components.datalist import load_datalist, missing_files
from mmar_hydra.components.trust import check_class_name_args
from mmar_hydra.errors import ConfigError, DataError, json_path, json_type
from mmar_hydra.faults.bad_cases import CaseIndex
from mmar_hydra.faults.case_guard import CaseGuard
from mmar_hydra.run_paths import READ_ARGS, WRITE_ARGS

if TYPE_CHECKING:
    from mmar_hydra.run_paths import RunPaths

__all__ = [
    "HookContext",
    "Hook",
    "HOOKS",
    "prepare",
    "provided_by_hooks",
    "is_subclass_named",
    "is_pipeline_dataset",
]


@dataclass(frozen=True)
class HookContext:
    """What hooks know about the walk: where it writes, which rank, which section."""

    paths: RunPaths
    section: str  # "train", "validate" or "" (a flat config)
    file: str | None
    allow_code: bool = False
    rank: int = 0
    world_size: int = 1
    instantiate: bool = True
    data: bool = True  # False: a check without data (task=bundle); the datalist is not read
    guard_cases: bool = (
        False  # True: built datasets (not the check's) report bad cases (faults.bad_cases)
    )
    origins: Any = None  # components.origins.Origins of the walk: names a failing transform


@dataclass(frozen=True)
class Hook:
    """A named preparation rule: ``applies(cls, spec)`` -> ``run(ctx, cls, spec, args, where)``."""

    name: str
    applies: Callable[[Any, Mapping[str, Any]], bool]
    run: Callable[[HookContext, Any, Mapping[str, Any], dict[str, Any], str], None]
    provides: tuple[str, ...] = ()  # args the hook fills in (the signature check counts them)


def is_subclass_named(cls: Any, name: str) -> bool:
    """``cls`` is ``name`` or derives from it (by name: no MONAI import needed to ask)."""
    return isinstance(cls, type) and any(c.__name__ == name for c in cls.__mro__)


def is_pipeline_dataset(cls: Any) -> bool:
    """One of MONAI's data + transform datasets (``monai.data.dataset``): its items are
    ``transform(data[i])``, and constructing the caching ones fills their cache."""
    return isinstance(cls, type) and cls.__module__ == "monai.data.dataset"


# -- the hooks ------------------------------------------------------------------------
def _datalist(
    ctx: HookContext, cls: Any, spec: Mapping[str, Any], args: dict[str, Any], where: str
) -> None:
    if not ctx.data:
        return
    list_path, items, key = split_of(ctx, spec, where)
    missing = missing_files(items)
    if missing:
        shown = "\n            ".join(_short(m) for m in missing[:5])
        raise DataError(
            f"{len(missing)} data file(s) of the datalist are missing",
            file=str(list_path),
            path=f"{where}.data_list_key={key}",
            expected=f"existing files; first missing:\n            {shown}",
            fix="set DATA_ROOT to the folder the datalist's relative paths start from",
        )
    if ctx.world_size > 1:
        from monai.data import partition_dataset

        # each rank builds (and caches) only its shard; training shards are padded to equal
        # length so DDP steps stay in lockstep, evaluation shards are not (no duplicated case)
        even = ctx.section == "train"
        items = partition_dataset(items, num_partitions=ctx.world_size, even_divisible=even)[
            ctx.rank
        ]
    args["data"] = items


def _short(path: str, limit: int = 300) -> str:
    """A path as a message shows it: a 1 MB path is cut, control characters are escaped."""
    text = path if path.isprintable() else repr(path)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def split_of(ctx: HookContext, spec: Mapping[str, Any], where: str) -> tuple[Any, list[dict], str]:
    """(datalist file, the whole split, split key) a dataset spec names."""
    list_path = ctx.paths.read(str(spec["data_list_file_path"]))
    base = ctx.paths.read(str(spec.get("data_file_base_dir", list_path.parent)))
    key = str(spec.get("data_list_key", "training"))
    return list_path, load_datalist(list_path, base, key, where=where), key


def _bad_cases(
    ctx: HookContext, cls: Any, spec: Mapping[str, Any], args: dict[str, Any], where: str
) -> None:
    data = args.get("data")
    if not (ctx.guard_cases and ctx.instantiate and args.get("transform") is not None):
        return
    if not isinstance(data, list) or not all(isinstance(d, Mapping) for d in data):
        return

    if not CaseGuard.can_wrap(args["transform"]):
        return
    if "data_list_file_path" in spec:  # named by the whole split (before DDP sharding)
        list_path, items, key = split_of(ctx, spec, where)
        source = str(list_path)
    else:
        items, key, source = data, json_path(where, "args", "data"), str(ctx.file or "")
    cases = CaseIndex(items, key=key, datalist=source, section=ctx.section or "data")
    retry = is_subclass_named(cls, "PersistentDataset")
    transforms = getattr(args["transform"], "transforms", args["transform"])
    names = [_described(ctx.origins, t) for t in transforms]
    args["transform"] = CaseGuard.around(args["transform"], cases, retry_cached=retry, names=names)


def _described(origins: Any, transform: Any) -> str:
    """``"ScaleIntensityd (train.pre_transforms[3])"``, or the class name when not recorded."""
    origin = None
    if origins is not None:  # a legacy_arrays wrapper keeps the original as .transform
        origin = origins.find(transform) or origins.find(getattr(transform, "transform", None))
    return origin.describe() if origin is not None else type(transform).__name__


def _persistent_cache_dir(
    ctx: HookContext, cls: Any, spec: Mapping[str, Any], args: dict[str, Any], where: str
) -> None:
    args.setdefault("cache_dir", str(ctx.paths.cache_dir(ctx.section)))


def _paths(
    ctx: HookContext, cls: Any, spec: Mapping[str, Any], args: dict[str, Any], where: str
) -> None:
    for key in WRITE_ARGS:
        if key in args and not isinstance(args[key], str):
            # a folder that is not a string would become str(value) under the working
            # directory ("None/model.pt"): outside the MMAR, past the write check
            raise ConfigError(
                f"{key} is a JSON {json_type(args[key])}, not a folder path",
                file=ctx.file,
                path=json_path(where, "args", key),
                expected='a folder path (a string), e.g. "{MMAR_CKPT_DIR}" or "eval"',
                fix=f"set {key} to a folder inside the MMAR, or remove it",
            )
        if isinstance(args.get(key), str):
            at = json_path(where, "args", key)
            args[key] = str(ctx.paths.write(args[key], where=at, file=ctx.file))
    for key in READ_ARGS:
        if isinstance(args.get(key), str):
            at = json_path(where, "args", key)
            args[key] = str(ctx.paths.read(args[key], where=at, file=ctx.file))


def _class_name_args(
    ctx: HookContext, cls: Any, spec: Mapping[str, Any], args: dict[str, Any], where: str
) -> None:
    if not ctx.allow_code:
        check_class_name_args(cls, args, where=where, file=ctx.file)


def _cache_estimate(
    ctx: HookContext, cls: Any, spec: Mapping[str, Any], args: dict[str, Any], where: str
) -> None:
    if ctx.instantiate:  # the estimate runs one case through built transforms
        check_cache_fits(args, where=where, file=ctx.file)


def _metrics_saver(
    ctx: HookContext, cls: Any, spec: Mapping[str, Any], args: dict[str, Any], where: str
) -> None:
    """MetricsSaver's selections are names: checked here, not after the whole evaluation."""
    for key in ("metrics", "metric_details", "summary_ops", "delimiter"):
        value = args.get(key)
        names = value if isinstance(value, list) and key != "delimiter" else [value]
        if value is None or all(isinstance(n, str) for n in names):
            continue
        kind, example = ("a string", '","') if key == "delimiter" else ("names", '"*"')
        raise ConfigError(
            f"MetricsSaver's {key} is a JSON {json_type(value)}, not {kind}",
            file=ctx.file,
            path=json_path(where, "args", key),
            expected=f"{kind}, e.g. {example}",
            fix=f"write {key} as {kind}",
        )


def _names_saver(cls: Any, spec: Mapping[str, Any]) -> bool:
    return str(spec.get("name") or spec.get("path") or "").rsplit(".", 1)[-1] == "MetricsSaver"


HOOKS: tuple[Hook, ...] = (
    Hook("datalist", lambda cls, spec: "data_list_file_path" in spec, _datalist, ("data",)),
    Hook(
        "persistent_cache_dir",
        lambda cls, spec: is_subclass_named(cls, "PersistentDataset"),
        _persistent_cache_dir,
        ("cache_dir",),
    ),
    Hook("paths", lambda cls, spec: True, _paths),
    Hook("class_name_args", lambda cls, spec: cls is not None, _class_name_args),
    # MONAI's own caching datasets only: a custom/ subclass may read its ``data`` another way
    # (the early-access whole-slide SmartCache takes a folder and a CSV of regions)
    Hook(
        "cache_estimate",
        lambda cls, spec: is_pipeline_dataset(cls) and is_subclass_named(cls, "CacheDataset"),
        _cache_estimate,
    ),
    Hook("metrics_saver", _names_saver, _metrics_saver),
    Hook("bad_cases", lambda cls, spec: is_pipeline_dataset(cls), _bad_cases),  # last: wraps
)


def provided_by_hooks(cls: Any, spec: Mapping[str, Any]) -> list[str]:
    """Args the hooks will fill in for this component (for the signature check)."""
    return [name for hook in HOOKS if hook.applies(cls, spec) for name in hook.provides]


def prepare(
    ctx: HookContext, cls: Any, spec: Mapping[str, Any], args: dict[str, Any], where: str
) -> dict[str, Any]:
    """``args`` after every hook that applies to ``cls`` (a handler passes ``cls=None``)."""
    for hook in HOOKS:
        if hook.applies(cls, spec):
            hook.run(ctx, cls, spec, args, where)
    return args
