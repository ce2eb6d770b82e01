"""The MMARs the fuzz cases start from, built once per campaign.

- ``demo``: the sample MMAR (``task=demo_data``) on tiny synthetic data, with the tests' tiny
  network and crops written into its JSON (so a mutation of them is a mutation of the file,
  not undone by a command-line override), trained for one epoch and exported: it has
  ``models/model.pt``, ``final_model.pt`` and ``model.ts``, so every case can check that a
  failed run leaves the model alone, and ``validate`` / ``finetune`` / ``export`` have
  something to load.
- ``public/<name>``: the public Clara MMARs of ``../shared/clara_examples/public`` as
  published (``config/``, ``custom/``, ``BYOC/``; no data, no weights). Absent when
  ``../shared`` is absent: the campaign then runs on the demo alone and says so.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import CLARA_EXAMPLES, run_main

__all__ = ["Seed", "Target", "build_seeds", "TINY_JSON", "DEMO_TRAIN", "NOT_CONFIGS"]

# the tests' TINY_TRAIN / TINY_EVAL, as JSON paths of the sample MMAR's files
TINY_JSON: dict[str, dict[tuple, Any]] = {
    "config_train.json": {
        ("epochs",): 1,
        ("num_interval_per_valid",): 1,
        ("train", "model", "args", "channels"): [4, 8, 16],
        ("train", "model", "args", "strides"): [2, 2],
        ("train", "pre_transforms", 6, "args", "spatial_size"): [24, 24, 16],
        ("validate", "inferer", "args", "roi_size"): [24, 24, 16],
    },
    "config_validation.json": {("inferer", "args", "roi_size"): [24, 24, 16]},
    "config_validation_ckpt.json": {("inferer", "args", "roi_size"): [24, 24, 16]},
    "config_inference.json": {("inferer", "args", "roi_size"): [24, 24, 16]},
}
TINY_JSON["config_finetune.json"] = TINY_JSON["config_train.json"]
DEMO_TRAIN = "config/config_train.json"
# JSON files in config/ that are not task configs (mutated as what the task config reads)
NOT_CONFIGS = ("environment.json", "dataset")


@dataclass(frozen=True)
class Target:
    """A JSON file of a seed to mutate, and the config ``task=check`` then reads.

    Args:
        file: the mutated file, relative to the MMAR root.
        config: ``config_file=`` for the run (relative to the MMAR root).
    """

    file: str
    config: str


@dataclass
class Seed:
    """One seed MMAR.

    Args:
        name: ``demo`` or ``public/<folder>``.
        root: the pristine copy, never run on (cases copy it).
        targets: the JSON files worth mutating, each with the config to check.
        has_data: its datalist and images exist (the demo); the public ones point at the
            authors' machines.
    """

    name: str
    root: Path
    targets: list[Target] = field(default_factory=list)
    has_data: bool = False

    @property
    def configs(self) -> list[str]:
        return sorted({t.config for t in self.targets})


def _set(doc: Any, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def _bake_tiny(root: Path) -> None:
    for name, values in TINY_JSON.items():
        path = root / "config" / name
        doc = json.loads(path.read_text())
        for json_path, value in values.items():
            _set(doc, json_path, value)
        path.write_text(json.dumps(doc, indent=2))


def _ok(*args: str) -> None:
    result = run_main(*args)
    if result.returncode != 0:
        raise RuntimeError(
            f"seed set-up failed: {args}\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
        )


def build_demo(dest: Path) -> Seed:
    """The sample MMAR on tiny data, trained 1 epoch and exported (about 15 s)."""
    from mmar_hydra.tasks.demo_data import make_demo

    root = make_demo(dest, n_train=4, n_val=2, n_test=1, shape=(40, 40, 32))
    _bake_tiny(root)
    _ok(f"mmar={root}", "task=train")
    _ok(f"mmar={root}", "task=export", "input_shape=[1,1,24,24,16]")
    shutil.rmtree(root / "runs", ignore_errors=True)
    for path in (root / "models").iterdir():  # a case copies models/: keep what runs load
        if path.name not in ("model.pt", "model.ts"):
            path.unlink()
    configs = sorted(p.name for p in (root / "config").glob("config_*.json"))
    targets = [Target(f"config/{c}", f"config/{c}") for c in configs]
    targets += [
        Target("config/environment.json", DEMO_TRAIN),
        Target("data/dataset.json", DEMO_TRAIN),
        Target("data/dataset.json", "config/config_validation.json"),
    ]
    return Seed("demo", root, targets, has_data=True)


def _public_targets(root: Path) -> list[Target]:
    configs = sorted(
        f"config/{p.name}"
        for p in (root / "config").glob("*.json")
        if not p.name.startswith(NOT_CONFIGS)
    )
    targets = [Target(c, c) for c in configs]
    if (root / "config" / "environment.json").is_file() and configs:
        targets.append(Target("config/environment.json", configs[0]))
    return targets


def build_public(dest: Path) -> list[Seed]:
    """Writable copies of the public MMARs (``[]`` when ``../shared`` is absent)."""
    public = CLARA_EXAMPLES / "public"
    if not public.is_dir():
        return []
    seeds = []
    for src in sorted(p for p in public.iterdir() if p.is_dir()):
        root = dest / src.name
        for part in ("config", "custom", "BYOC"):
            if (src / part).is_dir():
                shutil.copytree(src / part, root / part)
        for p in [root, *root.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)
        targets = _public_targets(root)
        if targets:
            seeds.append(Seed(f"public/{src.name}", root, targets))
    return seeds


def build_seeds(dest: Path) -> list[Seed]:
    """Every seed, built under ``dest`` (the demo first)."""
    dest.mkdir(parents=True, exist_ok=True)
    return [build_demo(dest / "demo"), *build_public(dest / "public")]
