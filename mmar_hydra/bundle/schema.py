"""The JSON Schema ``verify_metadata`` checks ``configs/metadata.json`` against, offline.

``metadata.json`` names MONAI's schema by URL (:data:`mmar_hydra.bundle.metadata.SCHEMA`,
``meta_schema_20240725.json`` of the MONAI-extra-test-data 0.8.1 release, Apache-2.0).
``monai.bundle verify_metadata`` downloads that URL unless ``filepath`` names a file that
exists, so the bundle carries a local schema (``docs/meta_schema.json``) and the checks pass
``--filepath docs/meta_schema.json``: no network.

The local schema is written here from the MONAI Bundle Specification (docs.monai.io,
``mb_specification``), not copied: it requires what MONAI's schema requires (the same
top-level keys with the same JSON types, ``network_data_format`` with ``inputs`` and
``outputs``, each tensor with type / format / num_channels / spatial_shape / dtype /
value_range) and lets every other key through, as MONAI's does.
"""

from __future__ import annotations

from typing import Any

__all__ = ["META_SCHEMA", "SCHEMA_FILE", "TOP_LEVEL_TYPES", "TENSOR_REQUIRED"]

SCHEMA_FILE = "docs/meta_schema.json"  # in the bundle; verify_metadata --filepath

# key -> JSON type; every key listed is required (the specification's mandatory keys)
TOP_LEVEL_TYPES = {
    "schema": "string",
    "version": "string",
    "monai_version": "string",
    "pytorch_version": "string",
    "numpy_version": "string",
    "required_packages_version": "object",
    "task": "string",
    "description": "string",
    "authors": "string",
    "copyright": "string",
}
_OPTIONAL_TYPES = {
    "changelog": "object",
    "data_source": "string",
    "data_type": "string",
    "image_classes": "string",
    "label_classes": "string",
    "pred_classes": "string",
    "eval_metrics": "object",
    "intended_use": "string",
    "references": "array",
    "supported_apps": "object",
}
TENSOR_REQUIRED = ("type", "format", "num_channels", "spatial_shape", "dtype", "value_range")

_TENSOR = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "format": {"type": "string"},
        "num_channels": {"type": "integer"},
        "spatial_shape": {"type": "array", "items": {"type": ["string", "integer"]}},
        "dtype": {"type": "string"},
        "value_range": {"type": "array", "items": {"type": "number"}},
        "is_patch_data": {"type": "boolean"},
        "channel_def": {"type": "object"},
    },
    "required": list(TENSOR_REQUIRED),
}
_ARGUMENT = {
    "anyOf": [{"type": t} for t in ("number", "string", "boolean")] + [{"$ref": "#/$defs/tensor"}]
}
_NAMED = {"type": "object", "patternProperties": {"^.+$": {"$ref": "#/$defs/argument"}}}
_NETWORK_IO = {
    "type": "object",
    "properties": {"inputs": _NAMED, "outputs": _NAMED, "post_processed_outputs": _NAMED},
    "required": ["inputs", "outputs"],
}

META_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2019-09/schema",
    "$comment": (
        "Written by mmar_hydra from the MONAI Bundle Specification for offline "
        "verify_metadata; it requires what MONAI's meta_schema_20240725.json requires."
    ),
    "$defs": {"tensor": _TENSOR, "argument": _ARGUMENT, "network_io": _NETWORK_IO},
    "type": "object",
    "properties": {
        **{k: {"type": t} for k, t in {**TOP_LEVEL_TYPES, **_OPTIONAL_TYPES}.items()},
        "network_data_format": {"$ref": "#/$defs/network_io"},
    },
    "patternProperties": {"^[_a-zA-Z0-9]+_data_format$": {"$ref": "#/$defs/network_io"}},
    "required": [*TOP_LEVEL_TYPES, "network_data_format"],
}
