"""``docs/README.md``: a model card from the MMAR's docs, the metrics and the data format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmar_hydra.bundle.report import ConversionReport

__all__ = ["model_card"]

_RUN = """```bash
pip install "monai[fire]" pytorch-ignite nibabel tensorboard
cd BUNDLE
python -m monai.bundle run --config_file configs/inference.json     # predictions in eval/
python -m monai.bundle run --config_file configs/evaluate.json      # metrics in eval/
python -m monai.bundle run --config_file configs/train.json --epochs 1
torchrun --nproc_per_node=2 -m monai.bundle run \\
    --config_file "['configs/train.json','configs/multi_gpu_train.json']"
python -m monai.bundle verify_net_in_out network_def --meta_file configs/metadata.json \\
    --config_file configs/inference.json
```

Data paths are absolute (`dataset_dir`, `datalist_file`); override them on the command line,
e.g. `--dataset_dir /data/spleen --datalist_file /data/spleen/dataset.json`."""


def _tensor_rows(kind: str, specs: Mapping[str, Any]) -> list[str]:
    rows = []
    for name, spec in specs.items():
        defs = ", ".join(f"{k}: {v}" for k, v in (spec.get("channel_def") or {}).items())
        rows.append(
            f"| {kind} `{name}` | {spec.get('type')} / {spec.get('format')} | "
            f"{spec.get('num_channels')} | {spec.get('spatial_shape')} | "
            f"{spec.get('value_range') or 'n/a'} | {defs} |"
        )
    return rows


def model_card(
    docs: str, metadata: Mapping[str, Any], report: ConversionReport, mmar_name: str
) -> str:
    """The README text: the MMAR's own docs first, then what the bundle adds."""
    fmt = metadata.get("network_data_format") or {}
    lines = [docs.strip() or f"# {metadata.get('task')}", ""]
    lines += [
        "## MONAI bundle",
        "",
        f"This bundle was converted from the Clara Train MMAR `{mmar_name}` by mmar_hydra "
        f"(MONAI {metadata.get('monai_version')}, PyTorch {metadata.get('pytorch_version')}).",
        "",
        "### Data format",
        "",
        "| tensor | type / format | channels | spatial shape | value range | channels mean |",
        "|---|---|---|---|---|---|",
        *_tensor_rows("input", fmt.get("inputs") or {}),
        *_tensor_rows("output", fmt.get("outputs") or {}),
        "",
        "### Metrics",
        "",
    ]
    metrics = metadata.get("eval_metrics") or {}
    if metrics:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" for k, v in metrics.items()]
        lines += ["", "Measured by `mmar_hydra task=validate` on the MMAR's validation split."]
    else:
        lines.append("No evaluation was recorded (run `mmar_hydra task=validate` first).")
    lines += ["", "### How to run", "", _RUN, "", "### What did not convert", ""]
    lost = report.of("dropped") + report.of("code")
    lines += [f"- {i.line()}" for i in lost] or ["- nothing"]
    lines += ["", "See `conversion_report.md` for every translation.", ""]
    return "\n".join(lines)
