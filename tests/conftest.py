"""Shared test fixtures."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CLARA_EXAMPLES = SHARED / "clara_examples"

# Tests run on 2 shared cores: keep torch from oversubscribing them. Under pytest-xdist
# (make test runs 2 workers) each worker gets one thread.
os.environ.setdefault("OMP_NUM_THREADS", "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2")


@pytest.fixture
def clara_examples() -> Path:
    """../shared/clara_examples; tests using it are skipped cleanly when it is absent."""
    if not CLARA_EXAMPLES.is_dir():
        pytest.skip("../shared/clara_examples is not present")
    return CLARA_EXAMPLES


# Shrink the demo MMAR for tests (tiny network, crops and data; 2 epochs), the way
# lightning-hydra-template tests shrink the real configs instead of writing toy ones.
TINY_TRAIN = [
    "epochs=2",
    "num_interval_per_valid=1",
    "train.model.args.channels=[4,8,16]",
    "train.model.args.strides=[2,2]",
    "train.pre_transforms.6.args.spatial_size=[24,24,16]",
    "validate.inferer.args.roi_size=[24,24,16]",
]
TINY_EVAL = ["inferer.args.roi_size=[24,24,16]"]


def paths_inside(mmar_root: Path, run_dir: Path | None = None, config: dict | None = None):
    """The :class:`RunPaths` of a task on ``mmar_root`` (run folder ``run_dir``, default the
    MMAR), made the way the job makes them, for tests that call library functions."""
    from mmar_hydra.run_paths import RunPaths

    return RunPaths.for_task(mmar_root, run_dir or mmar_root, config or {})


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600):
    """``python -m mmar_hydra ARGS`` in a subprocess, as a user runs it.

    Only for tests whose subject is the process boundary (exit codes of a real process, no
    traceback, DDP children, signals); everything else uses :func:`run_main`.
    """
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "mmar_hydra", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


@dataclass
class CliResult:
    """What :func:`run_main` returns: the fields of ``subprocess.CompletedProcess`` tests read."""

    returncode: int
    stdout: str
    stderr: str


def run_main(*args: str, cwd: Path | None = None) -> CliResult:
    """``cli.main(ARGS)`` in this process: the CLI as a user runs it, without ~3 s of start-up.

    Exit codes come from ``SystemExit`` as the process would exit; an unexpected exception is
    exit code 1 with its traceback in ``stderr`` (a traceback is a bug the test should see).
    Hydra's global state, ``sys.argv`` and the working directory are restored afterwards.
    """
    import contextlib
    import io
    import logging
    import sys
    import traceback
    import warnings

    from hydra.core.global_hydra import GlobalHydra

    from mmar_hydra import cli

    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cwd = list(sys.argv), os.getcwd()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                result = cli.main(list(args))
                code = result if isinstance(result, int) else 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:  # noqa: BLE001 - reported like the process would
                traceback.print_exc(file=err)
                code = 1
    finally:
        GlobalHydra.instance().clear()
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        # Hydra's job logging replaced the root handlers with ones bound to our StringIOs
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def tiny_demo_source(tmp_path_factory) -> Path:
    """The sample MMAR with a small synthetic dataset, generated once per session."""
    from mmar_hydra.tasks.demo_data import make_demo

    root = tmp_path_factory.mktemp("tiny_demo") / "mmar"
    return make_demo(root, n_train=4, n_val=2, n_test=1, shape=(40, 40, 32))


@pytest.fixture(scope="session")
def trained_demo(tiny_demo_source: Path) -> Path:
    """The tiny demo MMAR after `task=train` (shared by the validate/infer/export tests)."""
    proc = run_main(f"mmar={tiny_demo_source}", "task=train", *TINY_TRAIN)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tiny_demo_source


@pytest.fixture
def tiny_demo(tiny_demo_source: Path, tmp_path: Path) -> Path:
    """A fresh copy of the untrained tiny demo MMAR (cp -r, as users make variants)."""
    import shutil

    dst = tmp_path / "mmar"
    shutil.copytree(tiny_demo_source, dst, ignore=shutil.ignore_patterns("models", "eval", "runs"))
    return dst


def save_foreign_checkpoint(path: Path) -> None:
    """A Clara-style checkpoint of a wider UNet than the tiny demo's (and no train_conf)."""
    import torch
    from monai.networks.nets import UNet

    other = UNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=2,
        channels=[8, 16, 32],
        strides=[2, 2],
        num_res_units=1,
        norm="batch",
    )
    torch.save({"model": other.state_dict()}, path)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server `.ci/run` started (``MMAR_HYDRA_TEST_POSTGRES_URL``); skipped cleanly
    when there is none or it cannot be reached."""
    url = os.environ.get("MMAR_HYDRA_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "no PostgreSQL server: MMAR_HYDRA_TEST_POSTGRES_URL is not set "
            "(.ci/run starts one; by hand: source .ci/postgres.sh && start_postgres)"
        )
    try:
        from sqlalchemy import create_engine

        from mmar_hydra.study.storage import driver_url

        create_engine(driver_url(url), connect_args={"connect_timeout": 5}).connect().close()
    except Exception as exc:  # noqa: BLE001 - no driver, server down: skip and say so
        pytest.skip(f"the PostgreSQL server {url} cannot be used: {exc}")
    return url


@pytest.fixture
def spawned():
    """The processes a test starts (append each ``Popen``): a failed assertion never leaves one
    of them, or their children (DDP ranks, torchrun workers), behind."""
    import psutil

    procs: list = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait()
