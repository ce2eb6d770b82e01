"""``task=parity mmar=M bundle=B`` (and ``task=bundle parity=true``): the parity certificate.

The MMAR (its training config with the command line's overrides, its validation and
inference configs, the checkpoint) runs through mmar_hydra and the bundle through
``monai.bundle`` (:mod:`mmar_hydra.bundle.parity`); ``B/docs/parity.json`` and
``B/docs/parity.md`` are written, each atomically. Both sides' outputs go to a scratch
folder under ``<MMAR>/runs/`` that is removed afterwards. A certificate that finds a
difference beyond its tolerances is written all the same, and the task then stops with
exit code 2 naming the first divergence.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mmar_hydra.bundle.configs import ConfigSource
from mmar_hydra.bundle.parity import MMARSide, certificate
from mmar_hydra.bundle.parity_report import markdown
from mmar_hydra.bundle.report import ConversionReport
from mmar_hydra.context import TaskContext, resolve_config
from mmar_hydra.errors import ConfigError, MMARError
from mmar_hydra.tasks.bundle_sources import flat_sources, network_as_trained, train_raw
from mmar_hydra.tasks.eval_flags import EvalFlags, apply_eval_flags
from mmar_hydra.writers.atomic import atomic_write_text

__all__ = ["run", "write_certificate", "ParityError"]


class ParityError(MMARError):
    """The bundle does not do what the MMAR does (the certificate says where)."""

    kind = "parity failed"


def _resolver(ctx: TaskContext) -> Any:
    """ConfigSource + output folder -> the resolved flat config after Clara's eval flags."""
    from omegaconf import OmegaConf

    def resolve(source: ConfigSource, out: Path) -> dict[str, Any]:
        raw = dict(source.raw)
        raw["MMAR_EVAL_OUTPUT_PATH"] = str(out)
        resolved = resolve_config(OmegaConf.create(raw), source.file)
        return apply_eval_flags(
            resolved,
            EvalFlags.of(resolved),
            mmar_root=ctx.mmar_root,
            infer_key=ctx.settings.infer_data_list_key,
            file=source.file,
            say=lambda *_: None,
        )

    return resolve


def _side(ctx: TaskContext, given: tuple | None) -> Any:

    report = ConversionReport()
    if given is None:
        config = ctx.mmar_config
        _, trained_conf, network = network_as_trained(ctx, config, report)
    else:
        config, trained_conf, network = given
    sources = flat_sources(ctx, train_raw(ctx), report)
    return MMARSide(
        paths=ctx.paths,
        train=config,
        network=network,
        sources=sources,
        resolve=_resolver(ctx),
        allow_code=ctx.allow_code,
    )


def write_certificate(ctx: TaskContext, bundle: Path, *, side: tuple | None = None) -> dict:
    """Certify ``bundle`` against ``ctx``'s MMAR; writes docs/parity.json and parity.md.

    Args:
        ctx: the task context (the MMAR, its overrides, ``seed=``).
        bundle: the bundle folder.
        side: (resolved train config, the config the checkpoint fits, the loaded network)
            when the caller has them (``task=bundle``), else loaded here.
    """

    bundle = Path(bundle).expanduser().resolve()
    if not (bundle / "configs" / "metadata.json").is_file():
        raise ConfigError(
            "not a MONAI bundle: no configs/metadata.json",
            file=bundle,
            path="bundle",
            expected="a folder task=bundle wrote",
            fix="convert first: task=bundle out=DIR (or task=bundle out=DIR parity=true)",
        )
    mmar_side = _side(ctx, side)
    runs = ctx.mmar_root / "runs"
    runs.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="parity-", dir=runs))
    try:
        cert = certificate(mmar_side, bundle, work=work, seed=ctx.settings.seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    atomic_write_text(bundle / "docs" / "parity.json", json.dumps(cert, indent=2, default=str))
    atomic_write_text(bundle / "docs" / "parity.md", markdown(cert))
    verdict = cert["verdict"]
    print(f"wrote {bundle / 'docs' / 'parity.json'} and parity.md")
    if not verdict["equal"]:
        raise ParityError(
            f"the bundle differs from the MMAR: {verdict['first_divergence']}",
            file=bundle / "docs" / "parity.md",
            expected="equal within the tolerances listed there",
            fix="fix the conversion where it first diverges (see the certificate)",
        )
    print(f"parity: equal within tolerance ({len(cert['stages'])} stages compared)")
    return cert


def run(ctx: TaskContext) -> Path:
    bundle = ctx.settings.bundle
    if not bundle:
        raise ConfigError(
            "task=parity needs the bundle folder",
            path="bundle",
            expected="bundle=DIR (a folder task=bundle wrote from this MMAR)",
            fix="task=parity bundle=spleen_bundle",
        )
    path = Path(bundle).expanduser()
    write_certificate(ctx, path)
    return path
