"""The trust boundary: what a config from a stranger may build without ``allow_code=true``.

An **allowlist**. Without ``allow_code``, a component must be a *class* defined in one of the
packages below: the ones Clara MMARs take their components from. Everything else is refused
with a message that says what would have been called: functions (even inside these packages:
``monai.utils.run_cmd``, ``torch.hub.load``), classes from other MONAI or torch subpackages
(``monai.bundle``, ``monai.utils``, ``monai.config``), and any other module (``os``,
``subprocess``, ``builtins``, ``importlib``, ``pickle``, the MMAR's ``custom/``).

Some MONAI classes take the *name* of a class to import and build (``LoadImage(reader=...)``,
``SaveImage(writer=...)``): those arguments are limited to MONAI's own readers and writers.
"""

from __future__ import annotations

import inspect
from typing import Any

from mmar_hydra.errors import CodeNotAllowedError, json_path

__all__ = [
    "ALLOWED_PACKAGES",
    "TRUSTED_ROOTS",
    "CLASS_NAME_ARGS",
    "defined_as",
    "allowed_package",
    "refusal",
    "check_trusted",
    "check_class_name_args",
]

# package prefix -> what MMARs take from it. A class is allowed when the module that defines
# it is one of these or inside one (``monai.networks.nets.unet`` is inside ``monai.networks``).
ALLOWED_PACKAGES: dict[str, str] = {
    "monai.networks": "networks and layers (UNet, SegResNet, BasicUNet...)",
    "monai.transforms": "pre / post transforms",
    "monai.losses": "losses (DiceLoss, DiceCELoss...)",
    "monai.metrics": "metrics (DiceMetric...)",
    "monai.inferers": "inferers (SimpleInferer, SlidingWindowInferer)",
    "monai.data": "datasets, data loaders, image readers and writers",
    "monai.handlers": "Clara handlers (the engine maps them, it does not run ignite)",
    "monai.optimizers": "optimizers (Novograd)",
    "monai.engines": "trainers and evaluators (read by the engine, not run)",
    "monai.apps.deepgrow": "deepgrow transforms, interaction and handlers",
    "monai.apps.pathology": "whole-slide datasets, transforms and handlers",
    "torch.nn": "layers and losses",
    "torch.optim": "optimizers and learning-rate schedulers",
    "torch.utils.data.dataloader": "DataLoader",
    "torch.utils.data.dataset": "Dataset wrappers (ConcatDataset, Subset...)",
    "torch.utils.data.sampler": "samplers",
    "torch.utils.data.distributed": "DistributedSampler",
    "torchvision.models": "torchvision network classes",
    "torchvision.transforms": "torchvision transforms",
    "ignite.metrics": "ignite metrics (Clara 4.0's Accuracy)",
    "ignite.handlers": "ignite handlers",
    "mmar_hydra.pathology": "Clara 4.0's whole-slide datasets and networks (compat)",
    "mmar_hydra.components.fast_post": "fast=true's post transforms (MONAI's, faster argmax)",
}
# top-level packages whose modules may be imported to look a name up (library code only:
# importing them runs nothing a config chose). Any other module needs allow_code to import.
TRUSTED_ROOTS = ("monai", "torch", "torchvision", "ignite", "mmar_hydra")

# args by which MONAI imports a class named by a string (monai.utils.locate): MONAI's own only
CLASS_NAME_ARGS: dict[str, tuple[str, ...]] = {
    "reader": (
        "ITKReader",
        "NibabelReader",
        "NumpyReader",
        "PILReader",
        "PydicomReader",
        "NrrdReader",
        "WSIReader",
        "CuCIMWSIReader",
        "OpenSlideWSIReader",
        "TiffFileWSIReader",
        "cuCIM",  # whole-slide datasets take a WSIReader backend name
        "OpenSlide",
        "TiffFile",
    ),
    "writer": ("ITKWriter", "NibabelWriter", "PILWriter"),
}


def defined_as(obj: Any) -> str:
    """Where ``obj`` really comes from: ``torch.load`` is ``torch.serialization.load``."""
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def allowed_package(module: str) -> str | None:
    """The allowlist entry that ``module`` belongs to, or None."""
    for package in ALLOWED_PACKAGES:
        if module == package or module.startswith(package + "."):
            return package
    return None


def refusal(target: str, why: str, *, key: str, where: str, file: str | None) -> Exception:
    """The error for a component the allowlist refuses (what would have run, how to allow it)."""
    return CodeNotAllowedError(
        f"component '{target}' {why}",
        file=file,
        path=json_path(where, key),
        expected="a class from MONAI (networks, transforms, losses, metrics, inferers, data, "
        "optimizers, apps.deepgrow, apps.pathology), torch.nn, torch.optim, torch.utils.data, "
        "torchvision or ignite (the table: mmar_hydra.components.trust.ALLOWED_PACKAGES)",
        fix="if you trust this MMAR (its custom/ folder included), set allow_code=true",
    )


def check_trusted(obj: Any, target: str, *, key: str, where: str, file: str | None) -> None:
    """Refuse ``obj`` (what ``target`` resolved to) unless it is an allowlisted class."""
    defined = defined_as(obj)
    if not inspect.isclass(obj):
        kind = "a function" if callable(obj) else f"a {type(obj).__name__}, not a class"
        raise refusal(
            target,
            f"is {kind} ({defined}): building it would call it",
            key=key,
            where=where,
            file=file,
        )
    if allowed_package(obj.__module__) is None:
        raise refusal(
            target,
            f"is the class {defined}, from outside the packages components may come from",
            key=key,
            where=where,
            file=file,
        )


def check_class_name_args(cls: Any, args: dict[str, Any], *, where: str, file: str | None) -> None:
    """``reader`` / ``writer`` given as a string must name one of MONAI's own classes."""
    for arg, allowed in CLASS_NAME_ARGS.items():
        value = args.get(arg)
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, str) and v not in allowed and v.lower() not in _lower(allowed):
                raise CodeNotAllowedError(
                    f"{getattr(cls, '__name__', cls)}: {arg}={v!r} would import and build "
                    "that class",
                    file=file,
                    path=json_path(where, "args", arg),
                    expected=f"one of MONAI's {arg}s: " + ", ".join(allowed),
                    fix="use one of those names, or set allow_code=true if you trust this MMAR",
                )


def _lower(names: tuple[str, ...]) -> tuple[str, ...]:
    """MONAI also accepts a reader's short lower-case name (``"nibabelreader"``, ``"itk"``)."""
    short = tuple(n.lower().removesuffix("reader").removesuffix("writer") for n in names)
    return tuple(n.lower() for n in names) + short
