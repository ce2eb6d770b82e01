"""MONAI's own checks of a bundle, run in-process: what ``python -m monai.bundle`` checks.

- ``verify_metadata`` of ``configs/metadata.json`` against the local schema
  (:mod:`mmar_hydra.bundle.schema`: ``filepath`` names an existing file, so nothing is
  downloaded);
- ``verify_net_in_out`` of ``network_def`` with the input shape ``metadata.json`` gives (the
  validation inferer's ``roi_size``: the network's real input);
- ``ConfigWorkflow(workflow_type="train")`` on ``train.json`` and ``("infer")`` on
  ``inference.json``: ``initialize()`` then ``check_properties()`` with no missing required
  property (what MONAI Label and NVFlare's ``MonaiAlgo`` read).

Each check is a :class:`Check`; a failing one carries MONAI's message.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmar_hydra.bundle.schema import SCHEMA_FILE

__all__ = ["Check", "monai_checks", "bundle_on_path", "config_workflow", "WORKFLOWS"]

# (config file, workflow_type) pairs whose required bundle properties must all be present
WORKFLOWS = (("train.json", "train"), ("inference.json", "infer"))


@dataclass
class Check:
    """One MONAI check: its name, whether it passed and what MONAI said."""

    name: str
    ok: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def bundle_on_path(bundle: Path) -> Iterator[None]:
    """The bundle folder first on ``sys.path`` (its ``scripts/`` package), as ``python -m
    monai.bundle`` run from the bundle folder has it; and MONAI's INFO logging kept quiet."""
    import sys

    root = str(bundle)
    sys.path.insert(0, root)
    logger = logging.getLogger("monai")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),  # tqdm's dataset-loading bars
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        with contextlib.suppress(ValueError):
            sys.path.remove(root)
        for name in [m for m in sys.modules if m == "scripts" or m.startswith("scripts.")]:
            sys.modules.pop(name, None)  # another bundle's scripts/ may come next


def _run(name: str, check: Callable[[], str]) -> Check:
    try:
        return Check(name, True, check())
    except Exception as exc:  # noqa: BLE001 - MONAI's message is the check's result
        first = (str(exc).strip().splitlines() or [""])[0][:400]
        return Check(name, False, f"{type(exc).__name__}: {first}")


def _metadata(bundle: Path) -> str:
    from monai.bundle import verify_metadata

    verify_metadata(
        meta_file=str(bundle / "configs" / "metadata.json"),
        filepath=str(bundle / SCHEMA_FILE),
        create_dir=False,
    )
    return f"valid against {SCHEMA_FILE}"


def _net_in_out(bundle: Path) -> str:
    import json

    from monai.bundle import verify_net_in_out

    config = "inference.json" if (bundle / "configs" / "inference.json").is_file() else "train.json"
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(bundle / "configs" / "metadata.json"),
        config_file=str(bundle / "configs" / config),
        device="cpu",
        bundle_root=str(bundle),
    )
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    image = next(iter(meta["network_data_format"]["inputs"].values()))
    return (
        f"network_def of configs/{config} on [1, {image['num_channels']}, {image['spatial_shape']}]"
    )


def config_workflow(bundle: Path, name: str, kind: str | None, **kwargs: Any) -> Any:
    """MONAI's ``ConfigWorkflow`` of ``configs/<name>`` (``kind``: its workflow type, or None),
    with the bundle's metadata and root; MONAI's own logging left alone."""
    from monai.bundle import ConfigWorkflow

    return ConfigWorkflow(
        config_file=str(bundle / "configs" / name),
        meta_file=str(bundle / "configs" / "metadata.json"),
        logging_file=False,
        workflow_type=kind,
        bundle_root=str(bundle),
        **kwargs,
    )


def _properties(bundle: Path, name: str, kind: str) -> Callable[[], str]:
    def check() -> str:
        workflow = config_workflow(bundle, name, kind)
        workflow.initialize()
        missing = workflow.check_properties()
        if missing:
            raise ValueError(f"missing required properties: {', '.join(map(str, missing))}")
        return f"configs/{name}: every required '{kind}' property present"

    return check


def monai_checks(bundle: Path) -> list[Check]:
    """Every MONAI check of the bundle folder, each with MONAI's verdict."""
    bundle = Path(bundle).resolve()
    with bundle_on_path(bundle):
        checks = [
            _run("verify_metadata", lambda: _metadata(bundle)),
            _run("verify_net_in_out", lambda: _net_in_out(bundle)),
        ]
        for name, kind in WORKFLOWS:
            if (bundle / "configs" / name).is_file():
                checks.append(_run(f"check_properties[{kind}]", _properties(bundle, name, kind)))
            else:
                checks.append(Check(f"check_properties[{kind}]", False, f"no configs/{name}"))
    return checks
