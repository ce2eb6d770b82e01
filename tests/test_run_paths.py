"""RunPaths: the one owner of where a task writes, and its confinement rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import paths_inside

from mmar_hydra.errors import ConfigError
from mmar_hydra.run_paths import RunPaths


def test_writes_stay_inside_the_mmar_and_the_run_folder(tmp_path: Path) -> None:
    mmar, run = tmp_path / "mmar", tmp_path / "run"
    paths = RunPaths(mmar_root=mmar.resolve(), write_root=mmar.resolve(), run_dir=run.resolve())
    assert paths.write("eval/segs") == mmar.resolve() / "eval" / "segs"
    assert paths.write(run / "a") == (run / "a").resolve()
    for escaping in ("../../etc", "models/../../x", tmp_path / "sibling"):
        with pytest.raises(ConfigError, match="outside the MMAR") as err:
            paths.write(escaping, where="train.handlers[3].args.save_dir")
        assert "allow_write=" in err.value.format()  # the error says how to allow it
    assert paths.read("../data/x.nii.gz") == (tmp_path / "data" / "x.nii.gz").resolve()


def test_allow_write_opens_the_boundary_allow_code_redirects(tmp_path: Path, capsys) -> None:
    mmar = (tmp_path / "mmar").resolve()
    extra = (tmp_path / "debug").resolve()
    allowed = RunPaths(mmar_root=mmar, write_root=mmar, run_dir=mmar, allowed=(extra,))
    assert allowed.write(extra / "patches") == extra / "patches"
    with pytest.raises(ConfigError):
        allowed.write(tmp_path / "elsewhere")
    run = (tmp_path / "run").resolve()
    trusted = RunPaths(mmar_root=mmar, write_root=mmar, run_dir=run, redirect_outside=True)
    outside = (tmp_path / "elsewhere").resolve()
    assert trusted.write(outside, where="x.output_dir") == run / "outside" / outside.relative_to(
        "/"
    )
    assert trusted.write(outside) == run / "outside" / outside.relative_to("/")
    assert capsys.readouterr().err.count(f"x.output_dir: {outside} is outside the MMAR") == 1
    assert trusted.write(extra) == run / "outside" / extra.relative_to("/")  # not in allow_write


def test_a_sweep_job_never_writes_into_its_parent(tmp_path: Path) -> None:
    parent = (tmp_path / "mmar").resolve()
    run = parent / "runs" / "multirun_x" / "0"
    job = RunPaths(mmar_root=parent, write_root=run / "mmar", run_dir=run)
    # relative, {MMAR_CKPT_DIR}-style and absolute-inside-the-parent paths land in the clone
    assert job.write("models") == run / "mmar" / "models"
    assert job.write("cache/persistent_train") == run / "mmar" / "cache" / "persistent_train"
    assert job.write(parent / "models" / "tb") == run / "mmar" / "models" / "tb"
    assert job.cache_dir("train") == run / "mmar" / "cache" / "persistent_train"
    assert job.write(run / "log.txt") == run / "log.txt"  # its own run folder stays as is
    # reads still come from the parent (data, the checkpoint to fine-tune from)
    assert job.read("models/model.pt") == parent / "models" / "model.pt"


def test_an_undefined_model_file_is_refused_where_it_is_read(tmp_path: Path) -> None:
    from mmar_hydra.mmar.layout import undefined_marker

    paths = paths_inside(tmp_path)
    for use in (paths.read, paths.write):
        with pytest.raises(ConfigError, match="MMAR_CKPT is not defined") as err:
            use(undefined_marker("MMAR_CKPT"), where="model.ckpt_path", file="config/v.json")
        assert '"MMAR_CKPT": "models/model.pt"' in err.value.format()
