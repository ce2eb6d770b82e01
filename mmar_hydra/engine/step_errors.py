"""One clean error for anything that raises inside a training, validation or inference step.

A transform, inferer, loss, metric, network or code string that raises in the middle of a
loop would otherwise end the run in a Lightning / Hydra traceback. :func:`guarded_step` wraps
a Lightning step: the exception becomes one :class:`~mmar_hydra.errors.ComponentError` that
says what failed (the component and its JSON path, or the code string), on which case (the
datalist entry, else the file), the underlying message and, for a known deprecated-API
message, the fix. The job's failure policy prints it and exits 2; ``debug=true`` shows the
traceback (the original exception is the error's cause).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mmar_hydra.components.origins import failing_origin
from mmar_hydra.errors import ComponentError, MMARError
from mmar_hydra.faults.bad_cases import CaseIndex, root_cause

__all__ = ["guarded_step", "step_error", "KNOWN_FIXES"]

F = TypeVar("F", bound=Callable[..., Any])

# (message pattern, fix): what MONAI says about an API Clara's version had
KNOWN_FIXES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"to_onehot=True/False` is deprecated"),
        "write to_onehot=<number of classes> instead of to_onehot=true + n_classes (the compat "
        "rules rewrite this in components and in code strings they can parse; a call built "
        "another way must be changed by hand)",
    ),
    (
        re.compile(r"threshold_values.*deprecated|deprecated.*threshold_values", re.S),
        "write threshold=<value> instead of threshold_values=true + logit_thresh",
    ),
    (
        re.compile(r"unexpected keyword argument '(\w+)'"),
        "remove or rename the argument '{0}': today's MONAI / torch no longer takes it",
    ),
)


def _fix(message: str, where: str) -> str:
    for pattern, fix in KNOWN_FIXES:
        match = pattern.search(message)
        if match is not None:
            return fix.format(*match.groups())
    dotted = where.replace("[", ".").replace("]", "")
    return "run with debug=true for the traceback" + (
        f"; change the component's args, or disable it with {dotted}.disabled=true" if where else ""
    )


def _files(batch: Any) -> list[str]:
    """The image files of a batch (MetaTensor metadata, or Clara 4.0's ``image_meta_dict``)."""
    if not isinstance(batch, Mapping):
        return []
    image = batch.get("image")
    meta = getattr(image, "meta", None) or batch.get("image_meta_dict") or {}
    names = meta.get("filename_or_obj") if isinstance(meta, Mapping) else None
    if isinstance(names, list | tuple):
        return [str(n) for n in names if n]
    return [str(names)] if names else []


def _cases(loader: Any) -> CaseIndex | None:
    """The loader's datalist index (the bad-case guard of its dataset keeps one)."""
    transform = getattr(getattr(loader, "dataset", None), "transform", None)
    cases = getattr(transform, "cases", None)
    return cases if isinstance(cases, CaseIndex) else None


def _describe_case(batch: Any, loader: Any) -> tuple[str, str | None, str | None]:
    """("case validation[3] (spleen_3.nii.gz)", datalist file, "validation[3]"), or the file
    names alone."""
    files = _files(batch)
    cases = _cases(loader)
    if cases is not None and files:
        index = cases.find({"image": files[0]})
        if index is not None:
            entry = f"{cases.key}[{index}]"
            return f"case {entry} ({files[0]})", cases.datalist, entry
    if files:
        return "case " + ", ".join(files[:4]) + (", ..." if len(files) > 4 else ""), None, None
    return "a batch", None, None


def step_error(
    exc: BaseException, *, stage: str, origins: Any, batch: Any, loader: Any
) -> MMARError:
    """``exc``, raised inside a ``stage`` step on ``batch``, as the error a user reads."""
    origin = failing_origin(exc, origins)
    cause = root_cause(exc)
    case, datalist, entry = _describe_case(batch, loader)
    what = origin.describe() if origin is not None else f"the {stage} step"
    return ComponentError(
        f"{what} failed during {stage}, on {case}: {cause}"
        + (f" (datalist {datalist})" if datalist else ""),
        # no component to name: the case it failed on, else the stage
        file=origin.file if origin is not None else datalist,
        path=origin.where if origin is not None else (entry or f"the {stage} step"),
        expected="components that run on this MMAR's data with today's MONAI",
        fix=_fix(cause, origin.where if origin is not None else ""),
    )


def guarded_step(stage: str) -> Callable[[F], F]:
    """Decorate a LightningModule step ``(self, batch, ...)``.

    The module gives ``origins`` (what was built, from where) and ``step_loaders`` (stage ->
    its dataloader, to name the datalist entry).
    """

    def decorate(step: F) -> F:
        @functools.wraps(step)
        def run(module: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return step(module, batch, *args, **kwargs)
            except MMARError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure in a step is a component's
                name = getattr(module, "stage_name", stage)
                loaders = getattr(module, "step_loaders", {}) or {}
                raise step_error(
                    exc,
                    stage=name,
                    origins=getattr(module, "origins", None),
                    batch=batch,
                    loader=loaders.get(stage),
                ) from exc

        return run  # type: ignore[return-value]

    return decorate
