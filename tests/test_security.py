"""Untrusted MMARs and checkpoints: code strings, custom/ imports, paths, unpickling."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_EVAL, TINY_TRAIN, run_main

from mmar_hydra.errors import CheckpointError
from mmar_hydra.writers.checkpoints import load_checkpoint


def _edit(root: Path, fn) -> None:  # noqa: ANN001
    path = root / "config" / "config_train.json"
    cfg = json.loads(path.read_text())
    fn(cfg)
    path.write_text(json.dumps(cfg, indent=2))


def _refused(proc, *needles: str) -> None:  # noqa: ANN001
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for needle in needles:
        assert needle in proc.stderr, proc.stderr[-3000:]


def test_code_string_that_writes_a_file_is_refused(tiny_demo, tmp_path):
    target = tmp_path / "pwned.txt"
    evil = f"#__import__('pathlib').Path({str(target)!r}).write_text('x') or @model.parameters()"
    _edit(tiny_demo, lambda c: c["train"]["optimizer"]["args"].__setitem__("params", evil))
    for task in ("check", "train"):
        proc = run_main(f"mmar={tiny_demo}", f"task={task}", *TINY_TRAIN)
        _refused(
            proc,
            "would run as Python code",
            "pwned.txt",
            "train.optimizer.args.params",
            "allow_code=true",
        )
    assert not target.exists()


def test_custom_component_needs_allow_code(tiny_demo, tmp_path):
    target = tmp_path / "imported.txt"
    custom = tiny_demo / "custom"
    custom.mkdir()
    (custom / "evil_net.py").write_text(
        f"import pathlib\npathlib.Path({str(target)!r}).write_text('ran')\n"
        "from monai.networks.nets import UNet as Net\n"
    )
    _edit(tiny_demo, lambda c: c["train"]["model"].update(path="evil_net.Net"))
    _refused(
        run_main(f"mmar={tiny_demo}", "task=check", *TINY_TRAIN),
        "evil_net.Net",
        "would import and run code",
        "allow_code=true",
    )
    assert not target.exists()
    # the user trusts it: now it imports (and its import-time code runs)
    proc = run_main(f"mmar={tiny_demo}", "task=check", *TINY_TRAIN, "allow_code=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert target.read_text() == "ran"


def test_paths_escaping_the_mmar_are_refused(trained_demo, tmp_path):
    outside = trained_demo.parent / "escaped"
    proc = run_main(
        f"mmar={trained_demo}", "task=infer", *TINY_EVAL, "MMAR_EVAL_OUTPUT_PATH=../escaped"
    )
    _refused(proc, "outside the MMAR", "output_dir")
    assert not outside.exists()
    proc = run_main(f"mmar={trained_demo}", "task=export", "output_path=../escaped/model.ts")
    _refused(proc, "outside the MMAR")
    assert not outside.exists()


def test_checkpoint_needing_arbitrary_unpickling_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "hook": functools.partial(print, "side effect")}, path)
    with pytest.raises(CheckpointError, match="arbitrary unpickling"):
        load_checkpoint(path)


# -- the allowlist: nothing a stranger's config names may run without allow_code ----------
def _place(cfg: dict, where: str, component: dict) -> None:
    train = cfg["train"]
    if where == "transform":
        train["pre_transforms"].insert(0, component)
    elif where == "handler":
        train["handlers"].insert(0, component)
    else:  # loss / network replace the MMAR's own
        train["loss" if where == "loss" else "model"] = component


@pytest.mark.parametrize("where", ["transform", "handler", "loss", "network"])
def test_run_cmd_as_any_component_is_refused(tiny_demo, tmp_path, where):
    target = tmp_path / "pwned"
    evil = {"name": "monai.utils.run_cmd", "args": {"cmd_list": ["touch", str(target)]}}
    _edit(tiny_demo, lambda c: _place(c, where, evil))
    for task in ("check", "train"):
        proc = run_main(f"mmar={tiny_demo}", f"task={task}", *TINY_TRAIN)
        _refused(proc, "'monai.utils.run_cmd' is a function", "allow_code=true")
        assert proc.returncode == 2
    assert not target.exists()


@pytest.mark.parametrize(
    "name,args",
    [
        ("builtins.exec", {"source": "open({target!r}, 'w').write('x')"}),
        ("os.system", {"command": "touch {target}"}),
        ("subprocess.Popen", {"args": ["touch", "{target}"]}),
        ("torch.hub.load", {"repo_or_dir": "{target}", "model": "x", "source": "local"}),
        ("importlib.import_module", {"name": "antigravity"}),
    ],
)
def test_code_runners_as_components_are_refused(tiny_demo, tmp_path, name, args):
    target = tmp_path / "pwned"
    filled = json.loads(json.dumps(args).replace("{target}", str(target)))
    _edit(
        tiny_demo, lambda c: c["train"]["pre_transforms"].insert(0, {"name": name, "args": filled})
    )
    proc = run_main(f"mmar={tiny_demo}", "task=check", *TINY_TRAIN)
    _refused(proc, f"component '{name}'", "train.pre_transforms[0].name", "allow_code=true")
    assert not target.exists()


def test_a_string_reader_cannot_import_a_class(tiny_demo, tmp_path):
    target = tmp_path / "pwned"
    # MONAI's LoadImage imports a reader named by a string and builds it with the extra args
    _edit(
        tiny_demo,
        lambda c: c["train"]["pre_transforms"][0]["args"].update(
            reader="subprocess.run", args=["touch", str(target)]
        ),
    )
    proc = run_main(f"mmar={tiny_demo}", "task=check", *TINY_TRAIN)
    _refused(proc, "reader='subprocess.run' would import", "train.pre_transforms[0].args.reader")
    assert not target.exists()


@pytest.mark.parametrize("value", ["no", "false", "0", "off"])
def test_allow_code_spelled_false_is_false(tiny_demo, tmp_path, value):
    target = tmp_path / "pwned"
    evil = f"#__import__('pathlib').Path({str(target)!r}).write_text('x') or @model.parameters()"
    _edit(tiny_demo, lambda c: c["train"]["optimizer"]["args"].__setitem__("params", evil))
    proc = run_main(f"mmar={tiny_demo}", "task=check", *TINY_TRAIN, f"allow_code={value}")
    _refused(proc, "would run as Python code")
    assert not target.exists()
