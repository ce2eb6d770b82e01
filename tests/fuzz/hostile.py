"""Hostile files: checkpoints (``model.pt``, ``model.ts``) and NIfTI images.

Each ``*_VARIANTS`` table maps a label (as the report shows it) to a function that makes the
file; the families pick a label and the numbers it needs with Hypothesis.
"""

from __future__ import annotations

import gzip
import io
import math
import pickle
import struct
from collections.abc import Callable
from typing import Any

from fuzz.payloads import EvilPickle, component_payloads
from fuzz.workspace import Ex

__all__ = [
    "CHECKPOINT_VARIANTS",
    "TORCHSCRIPT_VARIANTS",
    "NIFTI_VARIANTS",
]

# -- checkpoints ----------------------------------------------------------------------------


def _torch_bytes(obj: Any, **kwargs: Any) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    return buffer.getvalue()


def _real_state(original: bytes) -> dict[str, Any]:
    import torch

    return torch.load(io.BytesIO(original), map_location="cpu", weights_only=True)


def _evil_train_conf(ex: Ex, original: bytes) -> bytes:
    """A real checkpoint whose ``train_conf`` builds a command runner as the network."""
    data = _real_state(original)
    _, payload = component_payloads(ex.canary_file("train_conf"), ex.outside)[2]
    conf = dict(data.get("train_conf") or {})
    train = dict(conf.get("train") or {})
    train["model"] = payload
    conf["train"] = train
    data["train_conf"] = conf
    return _torch_bytes(data)


def _wrong_shapes(original: bytes) -> bytes:
    import torch

    data = _real_state(original)
    data["model"] = {k: torch.zeros(3, 1) for k in data["model"]}
    return _torch_bytes(data)


def _numbers_as_weights(original: bytes) -> bytes:
    data = _real_state(original)
    data["model"] = {k: 5 for k in data["model"]}
    return _torch_bytes(data)


def _nan_weights(original: bytes) -> bytes:
    data = _real_state(original)
    data["model"] = {k: v.float().fill_(math.nan) for k, v in data["model"].items()}
    return _torch_bytes(data)


CheckpointMaker = Callable[[Ex, bytes, int], bytes]
CHECKPOINT_VARIANTS: dict[str, CheckpointMaker] = {
    "pickle calling os.system": lambda ex, o, n: pickle.dumps(
        EvilPickle(ex.canary_file("pickle")), protocol=2 + n % 4
    ),
    "torch.save of os.system": lambda ex, o, n: _torch_bytes(
        EvilPickle(ex.canary_file("torch_save"))
    ),
    "os.system inside the model dict": lambda ex, o, n: _torch_bytes(
        {"model": {"w": EvilPickle(ex.canary_file("in_dict"))}}
    ),
    "legacy torch format with os.system": lambda ex, o, n: _torch_bytes(
        EvilPickle(ex.canary_file("legacy")), _use_new_zipfile_serialization=False
    ),
    "train_conf builds subprocess.Popen": lambda ex, o, n: _evil_train_conf(ex, o),
    "truncated": lambda ex, o, n: o[: n % max(len(o), 1)],
    "empty": lambda ex, o, n: b"",
    "random bytes": lambda ex, o, n: bytes((i * 131 + n) % 256 for i in range(1 + n % 5000)),
    "wrong keys": lambda ex, o, n: _torch_bytes({"model": {"bogus.weight": _tensor()}}),
    "wrong shapes": lambda ex, o, n: _wrong_shapes(o),
    "numbers as weights": lambda ex, o, n: _numbers_as_weights(o),
    "model is a string": lambda ex, o, n: _torch_bytes({"model": "weights"}),
    "model is None": lambda ex, o, n: _torch_bytes({"model": None, "train_conf": None}),
    "a list": lambda ex, o, n: _torch_bytes([_tensor()]),
    "a bare tensor": lambda ex, o, n: _torch_bytes(_tensor()),
    "train_conf is a string": lambda ex, o, n: _torch_bytes({**_real_state(o), "train_conf": "x"}),
    "NaN weights": lambda ex, o, n: _nan_weights(o),
    "train_conf nested 300 deep": lambda ex, o, n: _torch_bytes(
        {**_real_state(o), "train_conf": _deep(300)}
    ),
    "lightning state_dict, no prefix": lambda ex, o, n: _torch_bytes(
        {"state_dict": {"x": _tensor()}}
    ),
}

TORCHSCRIPT_VARIANTS: dict[str, CheckpointMaker] = {
    "model.ts truncated": lambda ex, o, n: o[: n % max(len(o), 1)],
    "model.ts empty": lambda ex, o, n: b"",
    "model.ts is a pickle calling os.system": lambda ex, o, n: pickle.dumps(
        EvilPickle(ex.canary_file("ts_pickle"))
    ),
    "model.ts is torch.save of os.system": lambda ex, o, n: _torch_bytes(
        EvilPickle(ex.canary_file("ts_save"))
    ),
    "model.ts is a checkpoint": lambda ex, o, n: _torch_bytes({"model": {"w": _tensor()}}),
}


def _deep(levels: int) -> Any:
    value: Any = {"train": {"model": {"name": "UNet"}}}
    for _ in range(levels):
        value = {"train": value}
    return value


def _tensor() -> Any:
    import torch

    return torch.ones(2, 2)


# -- NIfTI ----------------------------------------------------------------------------------
# NIfTI-1 header offsets (bytes): dim int16[8] @40, datatype int16 @70, bitpix int16 @72,
# pixdim float32[8] @76, vox_offset float32 @108, qform_code/sform_code int16 @252/254,
# quatern_b float32 @256, srow_x float32[4] @280


def _patch(raw: bytes, fmt: str, offset: int, *values: Any) -> bytes:
    buf = bytearray(raw)
    struct.pack_into("<" + fmt, buf, offset, *values)
    return bytes(buf)


def _gz(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=1)


def _header_patch(fmt: str, offset: int, *values: Any) -> Callable[[bytes, int], bytes]:
    return lambda raw, n: _gz(_patch(raw, fmt, offset, *values))


def _image(shape: tuple[int, ...], fill: float = 0.0, dtype: str = "float32") -> bytes:
    import nibabel as nib
    import numpy as np

    img = nib.Nifti1Image(np.full(shape, fill, dtype=dtype), np.eye(4))
    return _gz(img.to_bytes())


NiftiMaker = Callable[[bytes, int], bytes]
NIFTI_VARIANTS: dict[str, NiftiMaker] = {
    "zero dimension": _header_patch("h", 42, 0),
    "negative dimension": _header_patch("h", 44, -5),
    "dim[0] = 0": _header_patch("h", 40, 0),
    "dim[0] = 9": _header_patch("h", 40, 9),
    "header claims 1e12 voxels": _header_patch("hhhh", 40, 3, 10000, 10000, 10000),
    "header claims 32767^3 voxels": _header_patch("hhhh", 40, 3, 32767, 32767, 32767),
    "NaN affine (sform)": lambda raw, n: _gz(
        _patch(_patch(raw, "h", 254, 1), "ffff", 280, math.nan, 0.0, 0.0, 0.0)
    ),
    "NaN affine (qform)": lambda raw, n: _gz(
        _patch(_patch(raw, "hh", 252, 1, 0), "fff", 256, math.nan, math.nan, 0.0)
    ),
    "infinite pixdim": _header_patch("fff", 80, math.inf, 1.0, 1.0),
    "zero pixdim": _header_patch("fff", 80, 0.0, 0.0, 0.0),
    "unknown datatype": _header_patch("h", 70, 12345),
    "bitpix mismatch": _header_patch("h", 72, 7),
    "huge vox_offset": _header_patch("f", 108, 1e30),
    "wrong sizeof_hdr": _header_patch("i", 0, 1234),
    "empty .nii.gz": lambda raw, n: b"",
    "gzip of nothing": lambda raw, n: _gz(b""),
    "truncated .nii.gz": lambda raw, n: _gz(raw)[: 1 + n % max(len(_gz(raw)) - 1, 1)],
    "truncated header": lambda raw, n: _gz(raw[: 1 + n % 347]),
    "random bytes": lambda raw, n: bytes((i * 97 + n) % 256 for i in range(1 + n % 4096)),
    "uncompressed named .nii.gz": lambda raw, n: raw,
    "4D image": lambda raw, n: _image((40, 40, 32, 2)),
    "one voxel": lambda raw, n: _image((1, 1, 1)),
    "other shape than its pair": lambda raw, n: _image((20, 20, 16), 1.0),
    "all NaN": lambda raw, n: _image((40, 40, 32), math.nan),
    "label value 255": lambda raw, n: _image((40, 40, 32), 255.0),
    "complex voxels": lambda raw, n: _image((8, 8, 8), 1.0, "complex64"),
}
