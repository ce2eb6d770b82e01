"""Start-up stays lean: ``import monai``'s unused optional packages are deferred."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import TINY_TRAIN

from mmar_hydra import lean_imports

PROBE = """
import sys
from mmar_hydra import cli, lean_imports
try:
    cli.entry(sys.argv[1:])
finally:
    heavy = ('matplotlib', 'matplotlib.pyplot', 'optuna')
    print('LOADED', [m for m in heavy if lean_imports.loaded(m)])
"""


def test_task_check_imports_neither_optuna_nor_matplotlib(tiny_demo_source):
    # the process entry point is the subject: it alone defers the packages
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, f"mmar={tiny_demo_source}", "task=check", *TINY_TRAIN],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "check passed" in proc.stdout
    assert "LOADED []" in proc.stdout


def test_a_deferred_package_runs_on_first_use(tmp_path: Path, monkeypatch):
    pkg = tmp_path / "lean_probe_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import sys\nsys.lean_probe_ran = True\nVALUE = 42\n")
    (pkg / "sub.py").write_text("import sys\nsys.lean_probe_sub_ran = True\nNAME = 'sub'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    lean_imports.defer(("lean_probe_pkg",))
    try:
        import lean_probe_pkg  # noqa: F401 - the import itself is the subject
        import lean_probe_pkg.sub as sub

        assert lean_imports.is_deferred("lean_probe_pkg")
        assert not hasattr(sys, "lean_probe_ran") and not hasattr(sys, "lean_probe_sub_ran")
        assert sub.NAME == "sub"  # first use: the real module runs, the stand-in delegates
        assert lean_probe_pkg.VALUE == 42 and sys.lean_probe_ran
        assert lean_imports.loaded("lean_probe_pkg")
    finally:
        for name in [m for m in sys.modules if m.startswith("lean_probe_pkg")]:
            del sys.modules[name]
        for flag in ("lean_probe_ran", "lean_probe_sub_ran"):
            if hasattr(sys, flag):
                delattr(sys, flag)


def test_a_missing_package_still_fails_to_import(monkeypatch):
    lean_imports.defer(("no_such_pkg_for_lean_imports",))
    try:
        import no_such_pkg_for_lean_imports  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:  # pragma: no cover - a stand-in for something that is not installed would be a lie
        raise AssertionError("a package that is not installed imported")
