"""``task=cv folds=K``: k-fold cross-validation of a training MMAR.

1. the split: the datalist's ``fold`` keys, else a seeded (group) k-fold of ``training``
   (+ ``validation`` with ``cv_pool=all``), written to the CV folder as one datalist per fold;
2. the folds that have not finished train as one Hydra sweep (``cv/launch.py``), each into
   ``<cv_dir>/fold_<i>/mmar`` with its datalist as ``DATASET_JSON``;
3. each trained fold's best model predicts its validation cases (``cv/oof.py``);
4. the report (``cv/report.py``).

Re-running on the same folder repeats only what is missing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmar_hydra.components.datalist import load_datalist
from mmar_hydra.context import TaskContext
from mmar_hydra.cv.folder import CVFolder
from mmar_hydra.cv.launch import fold_sweep_argv, passthrough_overrides, run_child
from mmar_hydra.cv.oof import write_oof
from mmar_hydra.cv.report import fold_rows, write_report
from mmar_hydra.cv.split import fold_datalist, make_split
from mmar_hydra.engine.trainer import trainer_kwargs
from mmar_hydra.errors import ConfigError, MMARError
from mmar_hydra.hydra_config import in_multirun
from mmar_hydra.reader.jsonfile import load_json
from mmar_hydra.tasks.preflight import checked_config
from mmar_hydra.tasks.records import record_run

__all__ = ["run", "DataSource", "data_source"]

_POOLS = ("train", "all")


@dataclass(frozen=True)
class DataSource:
    """Where the training config reads its cases.

    Args:
        list_path: the datalist file.
        base_dir: the folder its relative paths resolve against.
        train_key: the training dataset's ``data_list_key``.
        val_key: the validation dataset's ``data_list_key``.
        own_paths: JSON paths of datasets whose ``data_list_file_path`` is not ``{DATASET_JSON}``.
    """

    list_path: Path
    base_dir: Path
    train_key: str
    val_key: str
    own_paths: tuple[str, ...]


def _raw(node: Any) -> dict[str, Any]:
    """A config node as a plain dict, interpolations left as written."""
    from omegaconf import OmegaConf

    container = OmegaConf.to_container(node, resolve=False)
    return container if isinstance(container, dict) else {}  # type: ignore[return-value]


def _dataset(config: dict[str, Any], section: str, file: str | None) -> dict[str, Any]:
    spec = (config.get(section) or {}).get("dataset")
    if not isinstance(spec, dict) or "data_list_file_path" not in spec:
        raise ConfigError(
            f"task=cv needs a datalist in {section}.dataset",
            file=file,
            path=f"{section}.dataset.data_list_file_path",
            expected="a dataset with data_list_file_path / data_list_key (Clara's datasets)",
            fix="give the training config a train and a validate dataset that read {DATASET_JSON}",
        )
    return spec


def data_source(ctx: TaskContext, config: dict[str, Any]) -> DataSource:
    """The datalist both datasets read, and the keys of their splits.

    Raises:
        ConfigError: no datalist, or train and validate reading different files or one split.
    """

    assert ctx.read is not None
    file = str(ctx.read.config_file)
    root = ctx.mmar_root
    train, val = _dataset(config, "train", file), _dataset(config, "validate", file)
    paths = [(root / str(s["data_list_file_path"])).resolve() for s in (train, val)]
    if paths[0] != paths[1]:
        raise ConfigError(
            "train and validate read different datalists",
            file=file,
            path="validate.dataset.data_list_file_path",
            expected=f"one datalist with both splits (train reads {paths[0]}, validate {paths[1]})",
            fix="point both datasets at {DATASET_JSON}",
        )
    keys = str(train.get("data_list_key", "training")), str(val.get("data_list_key", "validation"))
    if keys[0] == keys[1]:
        raise ConfigError(
            f"train and validate both read the '{keys[0]}' split",
            file=file,
            path="validate.dataset.data_list_key",
            expected="a training split and a validation split",
        )
    own = tuple(
        f"{section}.dataset"
        for section in ("train", "validate")
        if _raw(ctx.cfg[section]["dataset"]).get("data_list_file_path") != "${DATASET_JSON}"
    )
    base = train.get("data_file_base_dir")
    base_dir = (root / str(base)).resolve() if base is not None else paths[0].parent
    return DataSource(paths[0], base_dir, *keys, own)


def _settings(ctx: TaskContext) -> dict[str, Any]:
    pool = str(ctx.settings.cv_pool or "train")
    if pool not in _POOLS:
        raise ConfigError(
            f"cv_pool={pool}",
            path="cv_pool",
            expected="cv_pool=train (split the training cases) or all (training + validation)",
        )
    folds = ctx.settings.folds
    return {
        "folds": None if folds is None else int(folds),
        "seed": int(ctx.settings.seed or 0),
        "group_key": ctx.settings.group_key or None,
        "cv_pool": pool,
    }


def _fold_config(ctx: TaskContext, source: DataSource, split_file: Path) -> dict[str, Any]:
    """The resolved training config of one fold (its datalist in place of the source's)."""
    from omegaconf import OmegaConf, open_dict

    cfg = copy.deepcopy(ctx.cfg)
    with open_dict(cfg):
        cfg.DATASET_JSON = str(split_file)
        for path in source.own_paths:
            OmegaConf.update(cfg, f"{path}.data_list_file_path", str(split_file))
    return TaskContext(cfg=cfg, read=ctx.read, run_dir=ctx.run_dir).mmar_config


def _train_folds(ctx: TaskContext, folder: Any, source: DataSource, todo: list[int]) -> int:
    from hydra.core.hydra_config import HydraConfig

    overrides = HydraConfig.get().overrides
    passthrough = passthrough_overrides(
        list(overrides.task), list(overrides.hydra), ("DATASET_JSON",)
    )
    argv = fold_sweep_argv(ctx.mmar_root, folder, todo, passthrough, source.own_paths)
    print(f"cv: training fold(s) {', '.join(map(str, todo))} as a sweep:", flush=True)
    print("  python -m mmar_hydra " + " ".join(argv), flush=True)
    return run_child(argv)


def _oof(ctx: TaskContext, folder: Any, source: DataSource, folds: list[int]) -> None:

    user = ctx.trainer_overrides
    one_process: dict[str, Any] = {k: user[k] for k in ("accelerator", "precision") if k in user}
    one_process.update(devices=1, strategy="auto", num_nodes=1)
    for fold in folds:
        config = _fold_config(ctx, source, folder.split_file(fold))
        kwargs, _ = trainer_kwargs(config, one_process)
        record = write_oof(
            config,
            paths=ctx.paths,
            model_path=folder.fold_mmar(fold) / "models" / "model.pt",
            out_dir=folder.oof_dir(fold),
            trainer_kwargs=kwargs,
            allow_code=ctx.allow_code,
            fold=fold,
        )
        value = record["value"]
        shown = f"{value:.4f}" if isinstance(value, float) else "-"
        print(
            f"cv: fold {fold} out-of-fold {record['key_metric']}: {shown} ({record['cases']} cases)"
        )


def run(ctx: TaskContext) -> float | None:
    """Split, train the unfinished folds, predict out of fold, report; returns the mean best."""

    if in_multirun():
        raise ConfigError(
            "task=cv runs its folds as a sweep itself: run it without -m",
            path="-m",
            fix="cross-validate each setting with its own task=cv cv_dir=cv_<name> run",
        )
    config = checked_config(ctx, "train")
    settings = _settings(ctx)
    source = data_source(ctx, config)
    folder = CVFolder.at(ctx.paths, ctx.settings.cv_dir, writing=True)
    pool = load_datalist(source.list_path, source.base_dir, source.train_key, where="train.dataset")
    if settings["cv_pool"] == "all":
        pool += load_datalist(
            source.list_path, source.base_dir, source.val_key, where="validate.dataset"
        )
    split = make_split(
        pool,
        folds=settings["folds"],
        seed=settings["seed"],
        group_key=settings["group_key"],
        file=str(source.list_path),
    )
    datalist = load_json(source.list_path, what="datalist")
    datalists = [
        fold_datalist(datalist, pool, split, i, train_key=source.train_key, val_key=source.val_key)
        for i in range(split.k)
    ]
    record = {
        **settings,
        "datalist": str(source.list_path),
        "train_key": source.train_key,
        "val_key": source.val_key,
    }
    folder.write_split(split, pool, datalists, record)
    print(f"cv: {split.k} folds ({split.source}) of {len(pool)} cases in {folder.root}")
    todo = [f for f in range(split.k) if not folder.trained(f)]
    code = _train_folds(ctx, folder, source, todo) if todo else 0
    if not todo:
        print("cv: every fold has finished training; nothing to train")
    trained = [f for f in range(split.k) if folder.trained(f)]
    _oof(ctx, folder, source, [f for f in trained if not folder.has_oof(f)])
    paths, text = write_report(folder)
    record_run(ctx, folder.root, extra={"folds": split.k, "trained": trained})
    print("\n" + text)
    print("wrote " + "\n      ".join(str(p) for p in paths))
    missing = [f for f in range(split.k) if f not in trained]
    if code != 0 or missing:
        raise MMARError(
            (f"fold(s) {', '.join(map(str, missing))} did not finish training" if missing else "")
            + (f" (the fold sweep exited with {code})" if code else ""),
            file=folder.root,
            path="folds",
            expected="every fold trained",
            fix="see the fold's log above; re-running task=cv on this folder trains only the "
            "folds that have not finished",
        )
    values = [r["best"] for r in fold_rows(folder)[1]]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
