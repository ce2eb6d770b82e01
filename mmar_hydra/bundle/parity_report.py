"""``docs/parity.md``: the parity certificate for a person to read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["markdown"]


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _verdict(cert: Mapping[str, Any]) -> list[str]:
    v = cert["verdict"]
    head = "**EQUAL within tolerance**" if v["equal"] else "**NOT EQUAL**"
    lines = [f"Verdict: {head}", ""]
    if v["first_divergence"]:
        lines += [f"First divergence: {v['first_divergence']}", ""]
    lines += [f"- {f['stage']}: {f['where']}: {f['why']}" for f in v["failures"][1:]]
    lines += [f"- {text}" for text in v.get("not_compared", [])]
    tol = ", ".join(f"{k} {v}" for k, v in cert["tolerances"].items())
    return [*lines, "", f"Tolerances: {tol}.", ""]


def _checks(cert: Mapping[str, Any]) -> list[str]:
    rows = ["| check | result | detail |", "|---|---|---|"]
    rows += [
        f"| {c['name']} | {'pass' if c['ok'] else 'FAIL'} | {c['detail']} |"
        for c in cert.get("checks") or []
    ]
    return ["## MONAI's checks of the bundle", "", *rows, ""]


def _transforms(cert: Mapping[str, Any]) -> list[str]:
    lines = ["## Pre-transforms, step by step", ""]
    for name, pipe in (cert.get("transforms") or {}).items():
        seed = f", seed {pipe['seed']} on both sides" if pipe["seed"] is not None else ""
        case = (
            pipe["case"].get("image", next(iter(pipe["case"].values()), "")) if pipe["case"] else ""
        )
        lines += [f"### {name} (`{pipe['config']}`{seed})", "", f"Case: `{case}`", ""]
        lines += ["| # | MMAR | bundle | max abs diff |", "|---|---|---|---|"]
        for s in pipe["steps"]:
            lines.append(
                f"| {s['index']} | {s['mmar']} | {s['bundle']} | {_num(s['max_abs_diff'])} |"
            )
        if pipe["diverged"]:
            lines += ["", f"Diverges: {pipe['diverged']['why']}."]
        lines.append("")
    return lines


def _runs(cert: Mapping[str, Any]) -> list[str]:
    lines = []
    net = cert.get("network")
    if net:
        lines += ["## Network", "", f"Input {net['input_shape']} (seeded random), outputs' max abs "
                  f"diff {_num(net['max_abs_diff'])}.", ""]  # fmt: skip
    val = cert.get("validation")
    if val:
        lines += [f"## Validation: {val['metric']} per case (same checkpoint)", "",
                  "| case | MMAR (mmar_hydra) | bundle (monai.bundle) | abs diff |", "|---|---|---|---|"]  # fmt: skip
        lines += [f"| {r['case']} | {_num(r['mmar'])} | {_num(r['bundle'])} | {_num(r['abs_diff'])} |"
                  for r in val["cases"]]  # fmt: skip
        lines.append("")
    inf = cert.get("inference")
    if inf:
        lines += ["## Inference: saved segmentations", "",
                  "| file | shape | voxel agreement | affine max abs diff |", "|---|---|---|---|"]  # fmt: skip
        lines += [f"| {r['file']} | {r['shape']} | {_num(r['voxel_agreement'])} | "
                  f"{_num(r['affine_max_abs_diff'])} |" for r in inf["cases"]]  # fmt: skip
        lines += [f"- {m}" for m in inf["missing"]] + [""]
    tri = cert.get("triton")
    if tri:
        lines += ["## Triton model repository", "",
                  f"config.pbtxt read back: {'ok' if tri['ok'] else 'problems: ' + '; '.join(tri['problems'])}; "
                  f"onnxruntime ran {tri.get('input_shape')} -> {tri.get('output_shape')}, max abs diff "
                  f"against PyTorch {_num(tri.get('max_abs_diff'))}.", ""]  # fmt: skip
    return lines


def _errors(cert: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The certificate without its failed stages, and a line for each of those."""
    failed = {k for k, v in cert.items() if isinstance(v, Mapping) and "error" in v}
    lines = [f"## {k}: could not run\n\n{cert[k]['error']}\n" for k in sorted(failed)]
    return {k: v for k, v in cert.items() if k not in failed}, lines


def markdown(cert: Mapping[str, Any]) -> str:
    """The certificate as Markdown: verdict first, then each stage's evidence."""
    cert, failed = _errors(cert)
    lines = [
        "# Parity certificate: MMAR vs MONAI bundle",
        "",
        f"MMAR `{cert['mmar']}` through mmar_hydra, bundle `{cert['bundle']}` through "
        f"monai.bundle (MONAI {cert['versions']['monai']}, PyTorch {cert['versions']['torch']}), "
        f"seed {cert['seed']}, {cert['created']}.",
        "",
        *_verdict(cert),
        *_checks(cert),
        *_transforms(cert),
        *_runs(cert),
        *failed,
    ]
    return "\n".join(lines)
