"""The parity certificate: does the bundle do what the MMAR it came from does?

On one seed and the same cases the MMAR runs through mmar_hydra and the bundle through
``monai.bundle``; :func:`certificate` compares, in pipeline order:

1. ``checks``: MONAI's own checks of the bundle (:mod:`mmar_hydra.bundle.verify`);
2. ``transforms``: each pre-transform pipeline (train with matched seeds, validate,
   evaluate, inference) on its first case, tensor by tensor (:mod:`.parity_steps`);
3. ``network``: both networks, weights from ``models/model.pt``, on one input;
4. ``validation``: the key metric per case through both evaluations;
5. ``inference``: the saved segmentations, voxel by voxel, and their affines;
6. ``triton``: the Triton repository read back and run (when the bundle has one).

The verdict lists every difference beyond :data:`TOLERANCES`; ``first_divergence`` names
the first transform or component, in that order, where the two part.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmar_hydra.bundle.configs import ConfigSource
from mmar_hydra.bundle.data_format import default_input_shape
from mmar_hydra.bundle.parity_runs import bundle_evaluation, compare_segmentations, mmar_evaluation
from mmar_hydra.bundle.parity_steps import compare_pipelines, network_parity
from mmar_hydra.bundle.triton import check_repository
from mmar_hydra.bundle.verify import bundle_on_path, monai_checks
from mmar_hydra.components.builder import build_eval, build_train
from mmar_hydra.run_paths import RunPaths

__all__ = ["TOLERANCES", "STAGES", "MMARSide", "certificate", "verdict"]

TOLERANCES = {
    "transform_max_abs_diff": 1e-5,
    "network_max_abs_diff": 1e-5,
    "metric_abs_diff": 1e-4,
    "voxel_agreement_min": 0.999,
    "affine_max_abs_diff": 1e-4,
    "onnx_rtol": 1e-3,  # onnxruntime vs PyTorch at the Triton dims, numpy.allclose
    "onnx_atol": 1e-3,
}
STAGES = ("checks", "transforms", "network", "validation", "inference", "triton")
# (pipeline, bundle config, bundle id of its pre-transforms, of its datalist, MMAR side)
PIPELINES = (
    ("train", "train.json", "train#preprocessing", "train#dataset#data", "train"),
    ("validate", "train.json", "validate#preprocessing", "validate#dataset#data", "validate"),
    ("evaluate", "evaluate.json", "preprocessing", "dataset#data", "evaluate"),
    ("inference", "inference.json", "preprocessing", "dataset#data", "inference"),
)


@dataclass
class MMARSide:
    """The MMAR as mmar_hydra runs it.

    Args:
        paths: the task's folders (its MMAR; writes go where the task may write).
        train: the resolved training config (the command line's overrides applied).
        network: the network loaded from the checkpoint the bundle's ``model.pt`` holds.
        sources: ``evaluate`` / ``inference``: the flat configs (``${VAR}``s kept).
        resolve: a flat source with ``MMAR_EVAL_OUTPUT_PATH`` set -> the resolved config
            after Clara's evaluation flags (the task layer's reader).
        allow_code: the MMAR is trusted.
    """

    paths: RunPaths
    train: dict[str, Any]
    network: Any
    sources: dict[str, ConfigSource] = field(default_factory=dict)
    resolve: Callable[[ConfigSource, Path], dict[str, Any]] | None = None
    allow_code: bool = False

    def flat(self, name: str, out: Path) -> dict[str, Any] | None:
        if name not in self.sources or self.resolve is None:
            return None
        return self.resolve(self.sources[name], out)


def _mmar_pipelines(side: MMARSide, work: Path) -> dict[str, tuple[Any, dict] | None]:
    paths = side.paths
    parts = build_train(side.train, paths=paths, allow_code=side.allow_code)
    out: dict[str, tuple[Any, dict] | None] = {
        "train": (parts.pre_transforms, parts.dataloader.dataset.data[0]),
        "validate": None,
    }
    if parts.validate is not None:
        out["validate"] = (parts.validate.pre_transforms, parts.validate.dataloader.dataset.data[0])
    for name in ("evaluate", "inference"):
        config = side.flat(name, work / f"mmar_{name}")
        if config is None:
            out[name] = None
            continue
        flat = build_eval(config, paths=paths, allow_code=side.allow_code, train_model=side.network)
        data = getattr(flat.dataloader.dataset, "data", None) or [{}]
        out[name] = (flat.pre_transforms, data[0])
    return out


def _bundle_parser(bundle: Path, config: str) -> Any:
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / config))
    parser["bundle_root"] = str(bundle)
    return parser


def _transforms(side: MMARSide, bundle: Path, work: Path, seed: int) -> dict[str, Any]:
    ours = _mmar_pipelines(side, work)
    tol = TOLERANCES["transform_max_abs_diff"]
    out: dict[str, Any] = {}
    for name, config, key, data_key, mmar_key in PIPELINES:
        pair = ours.get(mmar_key)
        if pair is None or not (bundle / "configs" / config).is_file():
            continue
        mmar_pipe, case = pair
        try:
            with bundle_on_path(bundle):
                parser = _bundle_parser(bundle, config)
                theirs = parser.get_parsed_content(key)
                data = parser.get_parsed_content(data_key) if data_key in parser else [case]
        except Exception as exc:  # noqa: BLE001 - a bundle that does not build diverges here
            why = f"the bundle's pipeline does not build: {_error(exc)}"
            out[name] = {"config": f"configs/{config}#{key}", "case": case, "seed": None,
                         "same_case": False, "steps": [],
                         "diverged": {"index": -1, "mmar": "(build)", "bundle": "(build)", "why": why}}  # fmt: skip
            continue
        bundle_case = dict(data[0]) if data else {}
        rand = seed if name == "train" else None
        result = compare_pipelines(mmar_pipe, theirs, case, seed=rand, tol=tol)
        same_case = {k: str(v) for k, v in case.items()} == {
            k: str(v) for k, v in bundle_case.items()
        }
        if not same_case and result["diverged"] is None:
            result["diverged"] = {"index": -1, "mmar": "dataset", "bundle": "dataset",
                                  "why": "the first case of the datalist differs"}  # fmt: skip
        out[name] = {"config": f"configs/{config}#{key}", "case": case, "seed": rand,
                     "same_case": same_case, **result}  # fmt: skip
    return out


def _bundle_network(bundle: Path) -> Any:
    import torch

    with bundle_on_path(bundle):
        net = _bundle_parser(bundle, "train.json").get_parsed_content("network_def")
    net.load_state_dict(torch.load(bundle / "models" / "model.pt", weights_only=True))
    return net


def _validation(side: MMARSide, bundle: Path, work: Path) -> dict[str, Any] | None:
    config = side.flat("evaluate", work / "mmar_evaluate")
    if config is None or not (bundle / "configs" / "evaluate.json").is_file():
        return None
    ours = mmar_evaluation(config, side.network, paths=side.paths, allow_code=side.allow_code)
    theirs = bundle_evaluation(bundle, "evaluate.json", output_dir=work / "bundle_evaluate")
    rows = [
        {"case": c, "mmar": ours["cases"].get(c), "bundle": theirs["cases"].get(c)}
        for c in sorted(set(ours["cases"]) | set(theirs["cases"]))
    ]
    for row in rows:
        both = row["mmar"] is not None and row["bundle"] is not None
        row["abs_diff"] = abs(row["mmar"] - row["bundle"]) if both else None
    return {"metric": ours["metric"], "bundle_metric": theirs["metric"], "cases": rows}


def _inference(side: MMARSide, bundle: Path, work: Path) -> dict[str, Any] | None:
    ours_dir, theirs_dir = work / "mmar_inference", work / "bundle_inference"
    config = side.flat("inference", ours_dir)
    if config is None or not (bundle / "configs" / "inference.json").is_file():
        return None
    mmar_evaluation(config, side.network, paths=side.paths, allow_code=side.allow_code)
    bundle_evaluation(bundle, "inference.json", output_dir=theirs_dir)
    return compare_segmentations(ours_dir, theirs_dir)


def _triton(bundle: Path, network: Any) -> dict[str, Any] | None:

    repo = bundle / "triton"
    if not repo.is_dir():
        return None
    result = check_repository(
        repo, network, rtol=TOLERANCES["onnx_rtol"], atol=TOLERANCES["onnx_atol"]
    )
    return {k: v for k, v in result.items() if k != "config"} | {"config": result["config"]}


def certificate(
    side: MMARSide, bundle: Path, *, work: Path, seed: int = 0, stages: tuple[str, ...] = STAGES
) -> dict[str, Any]:
    """Run the comparison ``stages`` and return the certificate (with its verdict)."""
    import monai
    import torch

    bundle = Path(bundle).resolve()
    cert: dict[str, Any] = {
        "mmar": str(side.paths.mmar_root),
        "bundle": str(bundle),
        "seed": seed,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "versions": {"monai": monai.__version__, "torch": torch.__version__.split("+")[0]},
        "tolerances": dict(TOLERANCES),
        "stages": list(stages),
    }

    runs: dict[str, Callable[[], Any]] = {
        "checks": lambda: [c.as_dict() for c in monai_checks(bundle)],
        "transforms": lambda: _transforms(side, bundle, work, seed),
        "network": lambda: network_parity(
            side.network, _bundle_network(bundle), default_input_shape(side.train)
        ),
        "validation": lambda: _validation(side, bundle, work),
        "inference": lambda: _inference(side, bundle, work),
        "triton": lambda: _triton(bundle, side.network),
    }
    for stage in STAGES:
        if stage in stages:
            try:
                cert[stage] = runs[stage]()
            except Exception as exc:  # noqa: BLE001 - a stage that cannot run is a divergence
                cert[stage] = {"error": _error(exc)}
    cert["verdict"] = verdict(cert)
    return cert


def _error(exc: BaseException) -> str:
    """``Type: first line`` of an exception and of its cause (MONAI wraps the real one)."""
    texts: list[str] = []
    while exc is not None and len(texts) < 2:
        texts.append(f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}")
        exc = exc.__cause__  # type: ignore[assignment]
    return " <- ".join(texts)


def _failures_of(cert: Mapping[str, Any]) -> list[dict[str, str]]:
    tol, out = cert["tolerances"], []

    def fail(stage: str, where: str, why: str) -> None:
        out.append({"stage": stage, "where": where, "why": why})

    errors = {
        s: cert[s]["error"] for s in STAGES if isinstance(cert.get(s), dict) and "error" in cert[s]
    }
    cert = {k: v for k, v in cert.items() if k not in errors}

    for check in cert.get("checks") or []:
        if not check["ok"]:
            fail("checks", check["name"], check["detail"])
    for name, pipe in (cert.get("transforms") or {}).items():
        if pipe["diverged"]:
            d = pipe["diverged"]
            fail("transforms", f"{name} pre-transforms: {d['mmar']} (transform {d['index']})",
                 f"{pipe['config']}: {d['why']}")  # fmt: skip
    net = cert.get("network")
    if net and not net["max_abs_diff"] <= tol["network_max_abs_diff"]:
        fail("network", "network_def", f"outputs differ by {net['max_abs_diff']:.3g}")
    for row in (cert.get("validation") or {}).get("cases", []):
        if row["abs_diff"] is None or row["abs_diff"] > tol["metric_abs_diff"]:
            fail("validation", f"case {row['case']}", f"MMAR {row['mmar']}, bundle {row['bundle']}")
    inference = cert.get("inference") or {}
    for text in inference.get("missing", []):
        fail("inference", "saved segmentations", text)
    for row in inference.get("cases", []):
        if row["voxel_agreement"] < tol["voxel_agreement_min"]:
            fail("inference", row["file"], f"voxel agreement {row['voxel_agreement']:.6f}")
        if row["affine_max_abs_diff"] > tol["affine_max_abs_diff"]:
            fail("inference", row["file"], f"affines differ by {row['affine_max_abs_diff']:.3g}")
    for stage, text in errors.items():
        fail(stage, "could not run", text)
    out.sort(key=lambda f: STAGES.index(f["stage"]))  # pipeline order: the first divergence
    triton = cert.get("triton")
    if triton and not triton["ok"]:
        fail("triton", "config.pbtxt", "; ".join(triton["problems"]))
    if triton and triton.get("allclose") is False:
        fail("triton", "model.onnx", f"onnxruntime differs by {triton['max_abs_diff']:.3g}")
    return out


def verdict(cert: Mapping[str, Any]) -> dict[str, Any]:
    """``{"equal", "first_divergence", "failures", "compared"}`` of a certificate."""
    failures = _failures_of(cert)
    empty = [s for s in cert["stages"] if s in cert and not cert[s]]
    first = failures[0] if failures else None
    return {
        "equal": not failures,
        "first_divergence": f"{first['stage']}: {first['where']}: {first['why']}"
        if first
        else None,
        "failures": failures,
        "not_compared": [f"{s}: nothing to compare (no such config on one side)" for s in empty],
    }
