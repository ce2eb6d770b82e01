"""Check and build are one walk: on every real config of ../shared/clara_examples, a config
that ``check_config`` accepts builds and yields a batch, and one that it rejects fails to
build for the same reason (the first problem the check reports)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import CLARA_EXAMPLES, paths_inside

from mmar_hydra.components.builder import build_eval, build_train, check_config
from mmar_hydra.errors import BadCaseError, MMARError
from mmar_hydra.faults.bad_case_loader import BadCaseTracker
from mmar_hydra.faults.bad_cases import BadCasePolicy
from mmar_hydra.run_paths import RunPaths

pytestmark = [pytest.mark.real_clara, pytest.mark.slow]


def _configs() -> list[str]:
    if not CLARA_EXAMPLES.is_dir():
        return []
    out = []
    for path in sorted(CLARA_EXAMPLES.rglob("config/*.json")):
        if path.name == "environment.json" or path.name.startswith("dataset"):
            continue
        out.append(str(path.relative_to(CLARA_EXAMPLES)))
    return out


@pytest.fixture(scope="module")
def spleen(tmp_path_factory) -> Path:
    from mmar_hydra.demo.synthetic import generate_dataset

    out = tmp_path_factory.mktemp("agree_data")
    generate_dataset(out, n_train=2, n_val=1, n_test=1, shape=(96, 96, 64))
    return out


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> dict[str, Path]:
    """One cp -r of each MMAR (its files unmodified); caches are written into the copy."""
    return {"root": tmp_path_factory.mktemp("agree_mmars")}


def _mmar_copy(copies: dict[str, Path], rel: str) -> tuple[Path, str]:
    mmar_rel = Path(rel).parent.parent
    dst = copies["root"] / mmar_rel
    if not dst.exists():
        shutil.copytree(CLARA_EXAMPLES / mmar_rel, dst)
    return dst, str(Path(rel).relative_to(mmar_rel))


def _resolved(mmar: Path, config_file: str, data: Path) -> dict:
    from omegaconf import OmegaConf

    from mmar_hydra.context import resolve_config
    from mmar_hydra.reader.mmar_reader import read_mmar

    read = read_mmar(mmar, task="train", config_file=config_file)
    config = dict(read.config)
    config.update(DATA_ROOT=str(data), DATASET_JSON=str(data / "dataset.json"))
    return resolve_config(OmegaConf.create(config), config_file)


def _build_one_batch(config: dict, paths: RunPaths) -> None:
    if isinstance(config.get("train"), dict):
        parts = build_train(config, paths=paths, allow_code=True)
    else:
        parts = build_eval(config, paths=paths, allow_code=True)
    if parts.dataloader is not None:  # as the engine reads it: a bad case raises
        next(iter(BadCaseTracker(BadCasePolicy()).guard(parts.dataloader, "train")))


def _root_message(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


@pytest.mark.parametrize("rel", _configs())
def test_check_and_build_agree(rel, copies, spleen):
    mmar, config_file = _mmar_copy(copies, rel)
    try:
        config = _resolved(mmar, config_file, spleen)
    except MMARError as exc:  # rejected by the reader: neither check nor build sees it
        assert exc.format()  # a clean, formatted error (no traceback)
        return
    paths = paths_inside(mmar)
    problems = check_config(config, paths=paths, allow_code=True)
    if not problems:
        _build_one_batch(config, paths)  # must not raise
        return
    first = problems[0]
    try:
        _build_one_batch(config, paths)
    except BadCaseError as exc:  # the loader names the case; the check names the transforms
        assert first.kind == "data error", first.format()
        reason = exc.what.split("cannot be used: ", 1)[-1]
        reason, _, raised_in = reason.partition(" (raised in ")
        assert reason.split(": ", 1)[-1][:80] in first.what, (first.format(), exc.what)
        if raised_in:  # both name the transform that raised, and its JSON path
            assert f"in {raised_in.removesuffix(')')}" in first.what, (first.format(), exc.what)
    except MMARError as exc:
        assert (type(exc), exc.what) == (type(first), first.what), first.format()
    except Exception as exc:  # noqa: BLE001 - the batch met what the data check met
        assert first.kind == "data error", first.format()
        assert _root_message(exc) in first.what, (first.format(), _root_message(exc))
    else:
        pytest.fail(f"check rejected it but it built:\n{first.format()}")


def test_the_corpus_is_there_when_shared_is():
    if not CLARA_EXAMPLES.is_dir():
        pytest.skip("../shared/clara_examples is not present")
    assert len(_configs()) >= 60
    assert all(json.loads((CLARA_EXAMPLES / c).read_text()) is not None for c in _configs())
