"""What the mutation families share: a :class:`Case`, the :class:`Ctx`, and the helpers that
pick a seed, a JSON path and the runs.

A family function takes the Hypothesis ``data`` object (``st.data()``) and the ``Ctx`` and
returns a ``Case``: what was done (for the report), the edits to make to a fresh copy of the
seed, and the CLI runs. Every case runs ``task=check``; :meth:`Ctx.every` adds ``train
epochs=1`` or ``validate`` to a sample of the demo's cases, and the file families pick the
task that reads or writes what they broke.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from fuzz import jsonmut
from fuzz.seeds import DEMO_TRAIN, Seed, Target
from fuzz.workspace import Ex, replace_file

__all__ = [
    "Case",
    "Ctx",
    "Edit",
    "task_args",
    "COMPONENT_KEYS",
    "draw_target",
    "Pick",
    "where_of",
    "component_paths",
    "string_paths",
    "named_slots",
    "write_file",
    "runs_for",
]


Edit = Callable[[Ex], None]
COMPONENT_KEYS = ("name", "path")
SAMPLE_EVERY = 6  # one demo config_train / validation case in 6 also trains / validates


@dataclass
class Case:
    """One drawn case.

    Args:
        family: the family's name.
        seed: the seed MMAR it starts from.
        steps: what was done, in words (the failure report).
        edits: changes to the fresh copy of the seed, in order.
        runs: ``task=...`` argument lists (``mmar=`` is added), run in order.
    """

    family: str
    seed: Seed
    steps: list[str] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    runs: list[list[str]] = field(default_factory=list)


class Ctx:
    """What the families share in one process: the seeds, parsed JSON and the sample counters.

    Args:
        seeds: the seed MMARs (the demo first).
        work: this process's work folder (its ``case/`` and ``canary/`` paths are fixed, so
            payloads can name them before the case folder exists).
    """

    def __init__(self, seeds: list[Seed], work: Path) -> None:
        self.seeds = seeds
        self.demo = seeds[0]
        self.public = seeds[1:]
        self.work = work
        self.canary = work / "canary"
        self.outside = work / "case" / "outside"
        self._docs: dict[tuple[str, str], Any] = {}
        self._paths: dict[tuple[str, str], list[tuple]] = {}
        self._counts: dict[str, int] = {}

    def doc(self, seed: Seed, file: str) -> Any:
        import json

        key = (seed.name, file)
        if key not in self._docs:
            self._docs[key] = json.loads((seed.root / file).read_text(encoding="utf-8-sig"))
        return self._docs[key]

    def paths(self, seed: Seed, file: str) -> list[tuple]:
        key = (seed.name, file)
        if key not in self._paths:
            self._paths[key] = list(jsonmut.all_paths(self.doc(seed, file)))
        return self._paths[key]

    def every(self, what: str, n: int = SAMPLE_EVERY) -> bool:
        """True once in ``n`` calls for ``what`` (deterministic: the sample of slow runs)."""
        self._counts[what] = self._counts.get(what, 0) + 1
        return self._counts[what] % n == 0


def task_args(task: str, config: str | None = None) -> list[str]:
    """The CLI arguments of one run of the demo (``mmar=`` is added by the campaign)."""
    conf = [f"config_file={config}"] if config else []
    return {
        "check": ["task=check", *conf],
        "train": ["task=train", "epochs=1", *conf],
        "finetune": ["task=finetune", "epochs=1"],
        "validate": ["task=validate", *conf],
        "validate_ckpt": ["task=validate", "config_file=config/config_validation_ckpt.json"],
        "export": ["task=export", "input_shape=[1,1,24,24,16]"],
        "infer": ["task=infer"],
    }[task]


def write_file(rel: str, text: str | bytes) -> Edit:
    """The edit that replaces ``rel`` (relative to the MMAR) with ``text``."""
    return lambda ex: replace_file(ex.mmar / rel, text)


@dataclass
class Pick:
    """The seed and file one case of a JSON family mutates; :meth:`case` makes the case."""

    family: str
    ctx: Ctx
    seed: Seed
    target: Target

    @property
    def doc(self) -> Any:
        return self.ctx.doc(self.seed, self.target.file)

    @property
    def paths(self) -> list[tuple]:
        return self.ctx.paths(self.seed, self.target.file)

    def text_case(self, text: str | bytes, step: str) -> Case:
        """The target file replaced by ``text``; ``check`` (and the sampled task) run on it."""
        seed, target = self.seed, self.target
        steps = [f"{seed.name}: {target.file}: {step}"]
        edits = [write_file(target.file, text)]
        return Case(self.family, seed, steps, edits, runs_for(self.ctx, seed, target))

    def case(self, mutated: Any, step: str, ascii_only: bool = True) -> Case:
        """The target file replaced by the JSON text of ``mutated``."""
        return self.text_case(jsonmut.dumps(mutated, ascii_only=ascii_only), step)


def draw_target(data: Any, ctx: Ctx, family: str, *, configs_only: bool = False) -> Pick:
    """A seed (the demo half of the time: its cases reach the data and the sampled runs) and
    one of its files; ``configs_only``: a task config (components and code strings live
    there, not in environment.json or a datalist)."""
    use_demo = not ctx.public or data.draw(st.booleans(), label="demo")
    seed = ctx.demo if use_demo else data.draw(st.sampled_from(ctx.public), label="seed")
    targets = [t for t in seed.targets if t.file == t.config] if configs_only else seed.targets
    target = data.draw(st.sampled_from(targets or seed.targets), label="file")
    return Pick(family, ctx, seed, target)


def runs_for(ctx: Ctx, seed: Seed, target: Target) -> list[list[str]]:
    """``check`` of the target's config; for a sample of the demo's cases also train/validate."""
    runs = [task_args("check", target.config)]
    if seed is ctx.demo:
        if target.config == DEMO_TRAIN and ctx.every("train"):
            runs.append(task_args("train", target.config))
        elif "validation" in target.config and ctx.every("validate"):
            runs.append(task_args("validate", target.config))
    return runs


def where_of(path: tuple) -> str:
    return jsonmut.json_path_text(path)


def component_paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """JSON paths of every object with a ``name`` or ``path`` (a component)."""
    found = []
    if isinstance(doc, dict):
        if any(isinstance(doc.get(k), str) for k in COMPONENT_KEYS):
            found.append(prefix)
        for k, v in doc.items():
            found += component_paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += component_paths(v, (*prefix, i))
    return found


def string_paths(
    doc: Any, ctx: Ctx, seed: Seed, file: str, start: str | None = None
) -> list[tuple]:
    return [
        p
        for p in ctx.paths(seed, file)
        if isinstance(v := jsonmut.get_at(doc, p), str) and (start is None or v.startswith(start))
    ]


def named_slots(doc: Any) -> list[tuple]:
    """Paths of the component slots of each section (``train.model``, ``validate.inferer``...)."""
    out = []
    sections = [("train",), ("validate",)] if isinstance(doc, dict) and "train" in doc else [()]
    for sec in sections:
        body = jsonmut.get_at(doc, sec) if all(isinstance(p, str) for p in sec) else None
        if isinstance(body, dict):
            out += [
                (*sec, k)
                for k, v in body.items()
                if isinstance(v, dict) and isinstance(v.get("args"), dict)
            ]
    return out
