"""Each variant's per-case results for ``task=compare``, validating the ones that have none.

A CV folder gives its out-of-fold values, a fold of one its fold's; an MMAR its eval
folder's ``<label>_raw.csv`` (:func:`~mmar_hydra.comparison.per_case.eval_state`). With
``validate_missing=true``, a trained MMAR whose results are missing, older than its
``models/model.pt`` or only the training run's last validation is validated first, by
``task=validate`` in a child process, and the report says so. Everything that is missing, old
or unpaired becomes a note: nothing is left out silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mmar_hydra.comparison.cv_variants import cv_case_values, fold_of, is_cv_folder
from mmar_hydra.comparison.per_case import CaseValues, eval_state, mmar_cases
from mmar_hydra.runs.collect import RunRecord

__all__ = ["GatheredCases", "gather_cases", "validate_argv"]

_WHY = {
    "missing": "it was never validated",
    "stale": "its eval results are older than models/model.pt",
    "training": "its eval results are the training run's last validation, not models/model.pt",
}


@dataclass
class GatheredCases:
    """Per-case values by variant, and what the report must say about them.

    Args:
        tables: variant -> its per-case values (variants without any are absent).
        notes: one line per missing, old or freshly validated result.
        validated: the variants this compare validated.
    """

    tables: dict[str, CaseValues] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    validated: list[str] = field(default_factory=list)


def validate_argv(root: Path, *, allow_code: bool = False) -> list[str]:
    """``task=validate`` of ``root``'s checkpoint: Clara's ``config_validation_ckpt.json``
    (validate_ckpt.sh) when the MMAR has one, else its default validation config.

    Args:
        root: the variant's MMAR.
        allow_code: the compare was trusted with ``allow_code=true``; the validation is too.
    """
    argv = [f"mmar={root}", "task=validate"]
    if (root / "config" / "config_validation_ckpt.json").is_file():
        argv.append("config_file=config/config_validation_ckpt.json")
    if allow_code:
        argv.append("allow_code=true")
    return argv


def _mmar_values(
    run: RunRecord,
    out: GatheredCases,
    validate_missing: bool,
    validate: Callable[[Path], int],
    say: Callable[[str], None],
) -> CaseValues | None:
    state = eval_state(run.root)
    if state.state in _WHY and validate_missing:
        say(
            f"validate_missing: {run.name} has no usable per-case results ({_WHY[state.state]}): "
            "validating it"
        )
        code = validate(run.root)
        if code != 0:
            out.notes.append(f"{run.name}: task=validate failed (exit code {code}); see above")
        else:
            out.validated.append(run.name)
            out.notes.append(f"{run.name}: validated by this compare (validate_missing=true)")
        state = eval_state(run.root)
    elif state.state in _WHY:
        out.notes.append(
            f"{run.name}: {_WHY[state.state]}"
            + ("; its results are used as they are" if state.usable else "")
            + " (run task=validate on it, or add validate_missing=true)"
        )
    elif state.state == "untrained":
        out.notes.append(f"{run.name}: not trained, no per-case results")
    return mmar_cases(run.root, state.files) if state.usable else None


def gather_cases(
    runs: list[RunRecord],
    *,
    validate_missing: bool,
    validate: Callable[[Path], int],
    say: Callable[[str], None] = print,
) -> GatheredCases:
    """The per-case values of every run.

    Args:
        runs: the compared runs.
        validate_missing: validate trained MMARs without usable results first.
        validate: runs ``task=validate`` on an MMAR root, returns the exit code.
        say: where progress lines go.
    """
    out = GatheredCases()
    for run in runs:
        fold = fold_of(run.root)
        if is_cv_folder(run.root):
            values: CaseValues | None = cv_case_values(run.root)
        elif fold is not None and (fold[0].oof_dir(fold[1]) / "oof.json").is_file():
            folder, number = fold
            values = cv_case_values(folder.root)
            keep = {c for c, f in values.folds.items() if f == number}
            values.values = {
                m: {
                    col: {c: v for c, v in cases.items() if c in keep}
                    for col, cases in cols.items()
                }
                for m, cols in values.values.items()
            }
            values.source = f"out-of-fold: oof/fold_{number}"
        elif (run.root / "config").is_dir():
            values = _mmar_values(run, out, validate_missing, validate, say)
        else:
            values = None
            out.notes.append(f"{run.name}: no run folder on this machine ({run.root})")
        if values is not None and values.cases():
            out.tables[run.name] = values
        elif values is not None:
            out.notes.append(f"{run.name}: no per-case results in {values.source or run.root}")
    return out
