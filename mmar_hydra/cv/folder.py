"""The CV folder on disk: split files, one MMAR run folder per fold, out-of-fold results.

```
<cv_dir>/
  cv.json                 the split's settings and the case -> fold map (checked on re-runs)
  split.csv               case, fold
  splits/fold_<i>.json    the datalist of fold i (training = the other folds, validation = i)
  fold_<i>/mmar/          fold i's MMAR run folder (a Hydra sweep job: config/, models/, ...)
  oof/fold_<i>/           fold i's out-of-fold predictions (<case>.npz) and eval CSVs
  cv_report.csv|md|png    the report; postprocess.csv once task=postprocess ran
```
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmar_hydra.cv.split import Split, case_id
from mmar_hydra.errors import ConfigError
from mmar_hydra.run_paths import RunPaths
from mmar_hydra.writers.atomic import atomic_write_text

__all__ = ["CVFolder", "DEFAULT_CV_DIR"]

DEFAULT_CV_DIR = "cv"


@dataclass(frozen=True)
class CVFolder:
    """Paths inside one CV folder.

    Args:
        root: the CV folder (``cv_dir``).
    """

    root: Path

    @classmethod
    def at(cls, paths: RunPaths, value: str | None, *, writing: bool) -> CVFolder:
        """The CV folder ``value`` (default ``cv``), relative to the MMAR root.

        Args:
            paths: the task's RunPaths.
            value: the ``cv_dir`` setting.
            writing: the task writes into it, so it goes through the one write rule.
        """
        text = str(value) if value else DEFAULT_CV_DIR
        return cls(paths.write(text, where="cv_dir") if writing else paths.read(text))

    @property
    def record(self) -> Path:
        return self.root / "cv.json"

    def split_file(self, fold: int) -> Path:
        return self.root / "splits" / f"fold_{fold}.json"

    def split_pattern(self) -> str:
        """The fold datalist with the fold number left to Hydra: ``.../fold_${cv_fold}.json``."""
        return str(self.root / "splits" / "fold_${cv_fold}.json")

    def fold_mmar(self, fold: int) -> Path:
        return self.root / f"fold_{fold}" / "mmar"

    def oof_dir(self, fold: int) -> Path:
        return self.root / "oof" / f"fold_{fold}"

    def folds(self) -> list[int]:
        """The fold numbers the record lists (empty before the split is written)."""
        if not self.record.is_file():
            return []
        return list(range(int(json.loads(self.record.read_text())["folds"])))

    def trained(self, fold: int) -> bool:
        """Training of ``fold`` finished: final_model.pt and model.pt were written."""
        models = self.fold_mmar(fold) / "models"
        return (models / "final_model.pt").is_file() and (models / "model.pt").is_file()

    def has_oof(self, fold: int) -> bool:
        """The fold's out-of-fold record exists and is newer than its model (a retrained
        fold needs new predictions)."""
        record, model = (
            self.oof_dir(fold) / "oof.json",
            self.fold_mmar(fold) / "models" / "model.pt",
        )
        if not record.is_file():
            return False
        return not model.is_file() or record.stat().st_mtime_ns >= model.stat().st_mtime_ns

    def write_split(
        self,
        split: Split,
        pool: Sequence[Mapping[str, Any]],
        datalists: Sequence[Mapping[str, Any]],
        settings: Mapping[str, Any],
    ) -> None:
        """Write cv.json, split.csv and one datalist per fold, or check they are unchanged.

        Raises:
            ConfigError: the folder holds a different split (other folds, seed, cases...).
        """
        cases = {case_id(item): fold for item, fold in zip(pool, split.folds, strict=True)}
        record = {**settings, "folds": split.k, "split_source": split.source, "cases": cases}
        if self.record.is_file():
            old = json.loads(self.record.read_text())
            if old.get("cases") != cases or old.get("folds") != split.k:
                changed = [k for k in record if old.get(k) != record[k]]
                raise ConfigError(
                    "this CV folder holds another split than the one asked for",
                    file=self.record,
                    path=", ".join(changed),
                    expected=f"the settings it was made with: folds={old.get('folds')}, "
                    f"seed={old.get('seed')}, group_key={old.get('group_key')}, "
                    f"cv_pool={old.get('cv_pool')}, and the same cases",
                    fix="re-run with those settings to resume it, or pick a new cv_dir=...",
                )
        for fold, datalist in enumerate(datalists):
            atomic_write_text(self.split_file(fold), json.dumps(datalist, indent=2))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["case", "fold"])
        writer.writerows(cases.items())
        atomic_write_text(self.root / "split.csv", buffer.getvalue())
        atomic_write_text(self.record, json.dumps(record, indent=2))
