"""Hostile paths: datalists (10^5 entries, ``../../``, absolute paths outside DATA_ROOT),
symlinks in the MMAR that point outside it, and environment.json values (``MMAR_CKPT_DIR=/``).

Each table maps a label (as the report shows it) to what makes it and the task that reads or
writes what it broke.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fuzz.workspace import Ex

__all__ = ["DATALIST_VARIANTS", "SYMLINK_VARIANTS", "ENV_VARIANTS", "datalist_entries"]

# -- datalists ------------------------------------------------------------------------------


def datalist_entries(variant: str, ex: Ex, n: int) -> list[Any]:
    """The ``training`` entries of a hostile datalist (``validation`` keeps its own)."""
    image, label = "imagesTr/spleen_000.nii.gz", "labelsTr/spleen_000.nii.gz"
    secret = ex.outside / "secret.nii.gz"
    outside_paths = {
        "../../ to a file outside": f"../../outside/{secret.name}",
        "absolute path outside DATA_ROOT": str(secret),
        "/etc/passwd": "/etc/passwd",
        "/dev/zero": "/dev/zero",
        "/dev/null": "/dev/null",
        "/proc/self/environ": "/proc/self/environ",
        "the root folder": "/",
        "~ (the home folder)": "~/.bashrc",
        "a folder": "imagesTr",
        "empty path": "",
        "NUL in the path": "imagesTr/spleen\x00_000.nii.gz",
        "1 MB path": "a/" * (1 << 19),
        "path too long for the OS": "x" * 5000 + ".nii.gz",
    }
    if variant == "1e5 entries":  # n odd: every image missing
        if n % 2:
            return [{"image": f"missing/{i}.nii.gz", "label": label} for i in range(100_000)]
        return [{"image": image, "label": label}] * 100_000
    if variant in outside_paths:
        key = "label" if n % 2 else "image"
        entry = {"image": image, "label": label, key: outside_paths[variant]}
        return [entry, {"image": image, "label": label}]
    odd: dict[str, Any] = {
        "entry is a number": [5, {"image": image, "label": label}],
        "entry is null": [None],
        "image is a list of numbers": [{"image": [1, 2], "label": label}],
        "image is an object": [{"image": {"path": image}, "label": label}],
        "no image key": [{"label": label}],
        "label is a number": [{"image": image, "label": 3}],
        "strings only": [image, image],
    }
    return odd[variant]


DATALIST_VARIANTS = (
    "1e5 entries",
    "../../ to a file outside",
    "absolute path outside DATA_ROOT",
    "/etc/passwd",
    "/dev/zero",
    "/dev/null",
    "/proc/self/environ",
    "the root folder",
    "~ (the home folder)",
    "a folder",
    "empty path",
    "NUL in the path",
    "1 MB path",
    "path too long for the OS",
    "entry is a number",
    "entry is null",
    "image is a list of numbers",
    "image is an object",
    "no image key",
    "label is a number",
    "strings only",
)

# -- symlinks -------------------------------------------------------------------------------


def _link(link: Path, target: Path | str, *, replace: bool = True) -> None:
    if replace and (link.exists() or link.is_symlink()):
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        else:
            link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def _dir_out(name: str) -> Callable[[Ex], None]:
    def make(ex: Ex) -> None:
        target = ex.outside / f"{name}_target"
        target.mkdir()
        (target / "victim.txt").write_text("outside\n")
        _link(ex.mmar / name, target)

    return make


def _file_out(rel: str) -> Callable[[Ex], None]:
    def make(ex: Ex) -> None:
        victim = ex.outside / "victim.bin"
        victim.write_bytes(b"outside, must stay as it is\n")
        _link(ex.mmar / rel, victim)

    return make


def _env_out(ex: Ex) -> None:
    target = ex.outside / "environment.json"
    env = json.loads((ex.mmar / "config" / "environment.json").read_text())
    env["MMAR_CKPT_DIR"] = str(ex.outside / "ckpt")
    target.write_text(json.dumps(env))
    _link(ex.mmar / "config" / "environment.json", target)


SYMLINK_VARIANTS: dict[str, tuple[Callable[[Ex], None], str]] = {
    # label: (make it, the task that would write through it)
    "models -> outside": (_dir_out("models"), "train"),
    "eval -> outside": (_dir_out("eval"), "validate"),
    "runs -> outside": (_dir_out("runs"), "train"),
    "cache -> outside": (_dir_out("cache"), "train"),
    "custom -> outside": (_dir_out("custom"), "check"),
    "models/model.pt -> outside file": (_file_out("models/model.pt"), "train"),
    "models/train_stats.json -> outside file": (_file_out("models/train_stats.json"), "train"),
    "models/resume_state.pt -> outside file": (_file_out("models/resume_state.pt"), "train"),
    "models/.mmar_hydra_train.lock -> outside file": (
        _file_out("models/.mmar_hydra_train.lock"),
        "train",
    ),
    "models/model.ts -> outside file": (_file_out("models/model.ts"), "export"),
    "eval/metrics.csv -> outside file": (_file_out("eval/metrics.csv"), "validate"),
    "config/dataset_0.json -> /etc/passwd": (
        lambda ex: _link(ex.mmar / "config" / "dataset_0.json", "/etc/passwd"),
        "check",
    ),
    "environment.json -> outside, writes outside": (_env_out, "train"),
    "datalist -> /dev/zero": (
        lambda ex: _link(ex.mmar / "data" / "dataset.json", "/dev/zero"),
        "check",
    ),
    "image -> /dev/urandom": (
        lambda ex: _link(ex.mmar / "data" / "imagesTr" / "spleen_000.nii.gz", "/dev/urandom"),
        "check",
    ),
    "config file loops to itself": (
        lambda ex: _link(ex.mmar / "config" / "config_train.json", "config_train.json"),
        "check",
    ),
    "data -> outside copy": (lambda ex: _move_out(ex, "data"), "train"),
}


def _move_out(ex: Ex, name: str) -> None:
    target = ex.outside / f"{name}_moved"
    shutil.move(str(ex.mmar / name), target)
    _link(ex.mmar / name, target)


# -- environment.json -----------------------------------------------------------------------


def _outside(ex: Ex, rel: str) -> str:
    return str(ex.outside / rel)


ENV_VARIANTS: dict[str, tuple[Callable[[Ex], dict[str, Any]], str]] = {
    # label: (the keys to set, the task that writes or reads them)
    "MMAR_CKPT_DIR=/": (lambda ex: {"MMAR_CKPT_DIR": "/"}, "train"),
    "MMAR_CKPT_DIR=..": (lambda ex: {"MMAR_CKPT_DIR": ".."}, "train"),
    "MMAR_CKPT_DIR=models/../../outside": (
        lambda ex: {"MMAR_CKPT_DIR": "models/../../outside/ckpt"},
        "train",
    ),
    "MMAR_CKPT_DIR=absolute outside": (lambda ex: {"MMAR_CKPT_DIR": _outside(ex, "ckpt")}, "train"),
    "MMAR_CKPT_DIR=~": (lambda ex: {"MMAR_CKPT_DIR": "~"}, "train"),
    "MMAR_CKPT_DIR=''": (lambda ex: {"MMAR_CKPT_DIR": ""}, "train"),
    "MMAR_CKPT_DIR=null": (lambda ex: {"MMAR_CKPT_DIR": None}, "train"),
    "MMAR_CKPT_DIR=5": (lambda ex: {"MMAR_CKPT_DIR": 5}, "train"),
    "MMAR_EVAL_OUTPUT_PATH=/": (lambda ex: {"MMAR_EVAL_OUTPUT_PATH": "/"}, "validate"),
    "MMAR_EVAL_OUTPUT_PATH=outside": (
        lambda ex: {"MMAR_EVAL_OUTPUT_PATH": _outside(ex, "eval")},
        "validate",
    ),
    "MMAR_CKPT=/etc/passwd": (lambda ex: {"MMAR_CKPT": "/etc/passwd"}, "validate_ckpt"),
    "MMAR_CKPT=/dev/zero": (lambda ex: {"MMAR_CKPT": "/dev/zero"}, "validate_ckpt"),
    "MMAR_CKPT=/": (lambda ex: {"MMAR_CKPT": "/"}, "validate_ckpt"),
    "MMAR_TORCHSCRIPT=/dev/zero": (lambda ex: {"MMAR_TORCHSCRIPT": "/dev/zero"}, "validate"),
    "MMAR_TORCHSCRIPT=outside, export": (
        lambda ex: {"MMAR_TORCHSCRIPT": _outside(ex, "model.ts")},
        "export",
    ),
    "DATA_ROOT=/": (lambda ex: {"DATA_ROOT": "/"}, "check"),
    "DATASET_JSON=/etc/passwd": (lambda ex: {"DATASET_JSON": "/etc/passwd"}, "check"),
    "DATASET_JSON=/dev/zero": (lambda ex: {"DATASET_JSON": "/dev/zero"}, "check"),
    "DATASET_JSON=/proc/self/environ": (
        lambda ex: {"DATASET_JSON": "/proc/self/environ"},
        "check",
    ),
    "DATASET_JSON=a folder": (lambda ex: {"DATASET_JSON": "config"}, "check"),
    "variable cycle in env": (
        lambda ex: {"MMAR_CKPT_DIR": "{MMAR_CKPT}", "MMAR_CKPT": "{MMAR_CKPT_DIR}/model.pt"},
        "train",
    ),
    "env sets a section": (lambda ex: {"train": {"model": {"path": "os.system"}}}, "check"),
    "env sets epochs huge": (lambda ex: {"epochs": 2**63}, "check"),
    "env key with a brace": (lambda ex: {"{MMAR_CKPT_DIR}": "/", "${oc.env:HOME}": 1}, "check"),
    "env value is an OmegaConf resolver": (
        lambda ex: {"MMAR_CKPT_DIR": "${oc.env:HOME}"},
        "train",
    ),
    "env grants allow_code": (lambda ex: {"allow_code": True, "allow_write": ["/"]}, "train"),
    "env sets hydra.callbacks": (
        lambda ex: {
            "hydra": {
                "callbacks": {
                    "fuzz": {
                        "_target_": "shutil.copy",
                        "src": __file__,
                        "dst": str(ex.canary_file("hydra")),
                    }
                }
            }
        },
        "check",
    ),
    "env moves the run folder outside": (
        lambda ex: {"hydra": {"run": {"dir": _outside(ex, "run")}}},
        "train",
    ),
    "env value calls a resolver by name": (
        lambda ex: {"MMAR_CKPT_DIR": "${mmar_hydra_runs:/}"},
        "train",
    ),
}
