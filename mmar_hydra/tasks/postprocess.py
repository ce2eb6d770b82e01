"""``task=postprocess``: keep the largest connected component only where CV shows it helps.

Reads the out-of-fold predictions ``task=cv`` left in ``<cv_dir>/oof/``, decides with
:func:`mmar_hydra.cv.postprocess.choose`, writes ``postprocess.csv`` (the decision table, also
in ``cv_report.md``) and ``config/config_inference_cv.json``: the MMAR's inference config with
the chosen ``KeepLargestConnectedComponentd`` after the prediction is discretized.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from mmar_hydra.components.metrics import build_metric
from mmar_hydra.components.parts import MetricPart
from mmar_hydra.context import TaskContext
from mmar_hydra.cv.folder import CVFolder
from mmar_hydra.cv.oof import load_case, oof_cases
from mmar_hydra.cv.postprocess import choose, klcc_specs, labels_of, write_config
from mmar_hydra.cv.report import POSTPROCESS_CSV, write_report
from mmar_hydra.engine.module import metric_mode
from mmar_hydra.errors import ConfigError
from mmar_hydra.reader.jsonfile import load_json
from mmar_hydra.tasks.records import record_run
from mmar_hydra.writers.atomic import atomic_write_text

__all__ = ["run", "OUTPUT_CONFIG"]

OUTPUT_CONFIG = "config/config_inference_cv.json"


def _records(folder: Any) -> list[dict[str, Any]]:
    folds = folder.folds()
    if not folds:
        raise ConfigError(
            "not a CV folder",
            file=folder.root,
            path="cv_dir",
            expected="a folder written by task=cv (it holds cv.json)",
            fix="run `task=cv` first, or point cv_dir= at its folder",
        )
    missing = [f for f in folds if not folder.has_oof(f)]
    if missing:
        raise ConfigError(
            f"fold(s) {', '.join(map(str, missing))} have no out-of-fold predictions",
            file=folder.root / "oof",
            path="cv_dir",
            expected="oof/fold_<i>/oof.json for every fold",
            fix="re-run task=cv on this folder: it trains and predicts what is missing",
        )
    return [json.loads((folder.oof_dir(f) / "oof.json").read_text()) for f in folds]


def _write_table(path: Path, rows: list[dict[str, Any]]) -> None:

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(
        {k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()} for row in rows
    )
    atomic_write_text(path, buffer.getvalue())


def run(ctx: TaskContext) -> Path:

    assert ctx.read is not None
    folder = CVFolder.at(ctx.paths, ctx.settings.cv_dir, writing=True)
    records = _records(folder)
    spec = records[0]["key_metric_spec"]
    label = records[0]["key_metric"] or str(spec["name"])
    files = oof_cases([folder.oof_dir(f) for f in folder.folds()])

    def cases():  # noqa: ANN202 - a generator: one case in memory at a time
        return (load_case(p) for p in files)

    def metric() -> Any:
        return build_metric(str(spec["name"]), spec.get("args") or {}, where="validate.key_metric")

    lower = metric_mode(MetricPart(str(spec["name"]), label, None, True, "")) == "min"
    print(
        f"postprocess: {len(files)} out-of-fold cases of {len(records)} folds, key metric {label}"
    )
    choice, rows = choose(cases, metric, lower_is_better=lower, metric_name=label)
    _write_table(folder.root / POSTPROCESS_CSV, rows)
    source = ctx.read.config_file
    dest = ctx.mmar_root / OUTPUT_CONFIG
    labels = labels_of(next(cases()))
    write_config(source, load_json(source), klcc_specs(choice, labels), dest)
    paths, text = write_report(folder)
    record_run(ctx, folder.root, extra={"kept": choice.describe(labels)})
    print("\n" + text)
    print(f"kept: {choice.describe(labels)}")
    print(f"wrote {folder.root / POSTPROCESS_CSV}\n      {dest}\n      {paths[1]}")
    return dest
