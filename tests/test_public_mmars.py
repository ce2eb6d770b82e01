"""The public Clara MMARs corpus (``../shared/clara_examples/public``), run unmodified.

Every MMAR gets what its files allow, through the CLI in-process, on tiny synthetic data
shaped like its own (``tests/corpus/``): each training config 1 epoch, then export, validate
(TorchScript and checkpoint), infer and finetune where the MMAR has those configs. Only the
files broken as published fail, each with its own clean message. Crops, sliding windows and
worker counts are shrunk by command-line overrides read from each config
(``corpus.gettingstarted.shrink_overrides``); the files stay as published.

The pathology MMARs run in ``tests/test_public_pathology.py`` and the deepgrow ones in
``tests/test_public_deepgrow.py``; :data:`COVERED_ELSEWHERE` says so and
``test_every_public_mmar_is_covered`` keeps the list whole.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CLARA_EXAMPLES, run_main
from corpus.cli import copy_mmar
from corpus.fl import make_fl_client_data
from corpus.gettingstarted import data_overrides, make_spleen_data, shrink_overrides

pytestmark = [pytest.mark.slow, pytest.mark.real_clara]

GS = ("cte_gettingstarted_ea", "cte_gettingstarted_40", "cte_gettingstarted_41")
FL = ("cte_fl_admin_ea", "cte_fl_admin_40")
AUTOML = ("cte_automl_40", "cte_automl_41")
COVERED_ELSEWHERE = {
    "cte_pathology_ea": "tests/test_public_pathology.py",
    "cte_pathology_40": "tests/test_public_pathology.py",
    "cte_deepgrow2d_ea": "tests/test_public_deepgrow.py",
    "cte_deepgrow2d_40": "tests/test_public_deepgrow.py",
    "cte_deepgrow3d_ea": "tests/test_public_deepgrow.py",
    "cte_deepgrow3d_40": "tests/test_public_deepgrow.py",
}
DEEPGROW = sorted(m for m in COVERED_ELSEWHERE if "deepgrow" in m)
# the config each MMAR trains first: the one its export / validation / inference read
PRIMARY = {**dict.fromkeys(GS, "config_train_Unet.json"), **dict.fromkeys(FL, "config_train.json")}
EXPORT_SHAPE = "input_shape=[1,1,48,48,48]"


def test_every_public_mmar_is_covered(clara_examples):
    found = {p.name for p in (clara_examples / "public").iterdir() if p.is_dir()}
    assert found == {*GS, *FL, *AUTOML, *COVERED_ELSEWHERE}


# -- data and MMAR copies ---------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """The datalists: GettingStarted's ``dataset.json``, the FL client's ``dataset_FLclient.json``."""
    return {
        "gs": make_spleen_data(tmp_path_factory.mktemp("spleen")),
        "fl": make_fl_client_data(tmp_path_factory.mktemp("fl_client")),
    }


def _datalist(data: dict[str, Path], name: str) -> Path:
    return data["fl" if name.startswith("cte_fl") else "gs"]


def _run(mmar: Path, datalist: Path, task: str, config: str | None, *extra: str) -> str:
    """One CLI run; returns stdout + stderr and its exit code as ``(code, text)``."""
    args = [f"mmar={mmar}", f"task={task}", *data_overrides(datalist)]
    if config:
        args += [f"config_file=config/{config}", *shrink_overrides(mmar / "config" / config)]
    if task in ("train", "finetune"):
        args.append("epochs=1")
    result = run_main(*args, *extra)
    return result.returncode, result.stdout + result.stderr


def _ok(mmar: Path, datalist: Path, task: str, config: str | None, *extra: str) -> str:
    code, out = _run(mmar, datalist, task, config, *extra)
    assert code == 0 and "Traceback" not in out, out[-4000:]
    return out


def _fails(mmar: Path, datalist: Path, task: str, config: str | None, *extra: str) -> str:
    code, out = _run(mmar, datalist, task, config, *extra)
    assert code == 2 and "Traceback" not in out, out[-4000:]
    return out


_TRAINED: dict[str, Path] = {}


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """``trained(name)``: the MMAR after 1 epoch of its primary config (once per module)."""
    if not CLARA_EXAMPLES.is_dir():
        pytest.skip("../shared/clara_examples is not present")

    def get(name: str) -> Path:
        if name not in _TRAINED:
            mmar = copy_mmar(CLARA_EXAMPLES / "public" / name, tmp_path_factory.mktemp(name) / name)
            _ok(mmar, _datalist(data, name), "train", PRIMARY[name])
            _TRAINED[name] = mmar
        return _TRAINED[name]

    return get


@pytest.fixture
def work(trained, tmp_path):
    """``work(name)``: a private copy of the trained MMAR (tests may write into it)."""
    return lambda name: copy_mmar(trained(name), tmp_path / name)


# -- training: every train config, 1 epoch ------------------------------------------------

TRAIN = [
    *[(m, PRIMARY[m], ()) for m in (*GS, *FL)],
    *[
        (m, c, ())
        for m in GS
        for c in ("config_train_Unet_NoAMP.json", "config_train_segresnet.json")
    ],
    *[(m, "trn_BYOC_Arch_loss.json", ("allow_code=true",)) for m in GS[1:]],
]


@pytest.mark.parametrize("name, config, extra", TRAIN, ids=lambda v: str(v).replace(".json", ""))
def test_train_one_epoch(clara_examples, data, trained, tmp_path, name, config, extra):
    if config == PRIMARY[name]:
        mmar = trained(name)  # export, validation, inference and finetune start from it
    else:
        mmar = copy_mmar(clara_examples / "public" / name, tmp_path / name)
        _ok(mmar, _datalist(data, name), "train", config, *extra)
    assert (mmar / "models" / "model.pt").is_file()
    assert (mmar / "models" / "final_model.pt").is_file()


@pytest.mark.parametrize("name", GS[1:])
def test_byoc_transform_debug_writes_stay_in_the_run_folder(clara_examples, data, tmp_path, name):
    """trn_BYOC_transform.json: its debug SaveImageD writes to /claraDevDay/Data/_tmpDebugPatches/.
    With allow_code=true (its custom transform needs it) the write goes to
    ``<run folder>/outside/claraDevDay/...``, said once; nothing is written outside."""
    mmar = copy_mmar(clara_examples / "public" / name, tmp_path / name)
    out = _ok(mmar, _datalist(data, name), "train", "trn_BYOC_transform.json", "allow_code=true")
    _assert_debug_patches_redirected(mmar, out)


@pytest.mark.parametrize("name", GS[1:])
def test_byoc_debug_saver_alone_is_redirected(clara_examples, data, tmp_path, name):
    """The same debug SaveImageD, its custom noise transform (pre_transforms[7]) switched off."""
    mmar = copy_mmar(clara_examples / "public" / name, tmp_path / name)
    off = "train.pre_transforms.7.disabled=true"
    code, out = _run(mmar, _datalist(data, name), "train", "trn_BYOC_transform.json", off)
    assert code == 2 and "refusing to write outside the MMAR: /claraDevDay" in out, out[-3000:]
    out = _ok(
        mmar, _datalist(data, name), "train", "trn_BYOC_transform.json", off, "allow_code=true"
    )
    _assert_debug_patches_redirected(mmar, out)


def _assert_debug_patches_redirected(mmar: Path, out: str) -> None:
    assert out.count("/claraDevDay/Data/_tmpDebugPatches/ is outside the MMAR") == 1, out[-3000:]
    saved = list(mmar.rglob("outside/claraDevDay/Data/_tmpDebugPatches/*/*.nii.gz"))
    assert saved and not Path("/claraDevDay/Data/_tmpDebugPatches").exists()


# -- export, validation, inference, finetune on the trained MMAR ---------------------------


@pytest.mark.parametrize("name", [*GS, *FL])
def test_export(work, name):
    mmar = work(name)
    out = _ok(mmar, Path(), "export", None, EXPORT_SHAPE)
    assert "export: network from the train_conf embedded in model.pt" in out
    assert (mmar / "models" / "model.ts").is_file()


VALIDATE = [
    # (name, config, extra overrides, what loads the model)
    ("cte_gettingstarted_ea", "config_validation.json", (), "checkpoint"),
    ("cte_gettingstarted_ea", "config_validation_ckpt.json", (), "checkpoint"),
    *[(m, "config_validation.json", (), "TorchScript") for m in GS[1:]],
    *[
        (
            m,
            "config_validation.json",
            ("dont_load_ts_model=true", "dont_load_ckpt_model=false"),
            "checkpoint",
        )
        for m in GS[1:]
    ],
    # the FL client configs name model files their environment.json never defines
    (
        "cte_fl_admin_ea",
        "config_validation_ckpt.json",
        ("MMAR_CKPT=models/model.pt",),
        "checkpoint",
    ),
    (
        "cte_fl_admin_40",
        "config_validation.json",
        ("MMAR_TORCHSCRIPT=models/model.ts",),
        "TorchScript",
    ),
]


@pytest.mark.parametrize("name, config, extra, loads", VALIDATE, ids=str)
def test_validate(work, data, name, config, extra, loads):
    mmar = work(name)
    if loads == "TorchScript":
        _ok(mmar, Path(), "export", None, EXPORT_SHAPE)
    out = _ok(mmar, _datalist(data, name), "validate", config, *extra)
    assert f"model: {loads}" in out and "1 case(s) validated" in out
    assert (mmar / "eval" / "metrics.csv").is_file()


@pytest.mark.parametrize("name", GS)
def test_infer(work, data, name):
    mmar = work(name)
    _ok(mmar, Path(), "export", None, EXPORT_SHAPE)  # 4.0 / 4.1 infer through model.ts
    out = _ok(mmar, _datalist(data, name), "infer", "config_inference.json")
    assert "1 case(s) inferred" in out and list((mmar / "eval").rglob("*.nii.gz"))


FINETUNE = [
    ("cte_gettingstarted_ea", "config_finetune.json", "CheckpointLoader:"),
    (
        "cte_gettingstarted_ea",
        "config_train_Unet.json",
        "finetune: the config has no CheckpointLoader",
    ),
    ("cte_gettingstarted_40", "config_train_Unet.json", "CheckpointLoader:"),
    ("cte_gettingstarted_41", "config_train_Unet.json", "CheckpointLoader:"),
]


@pytest.mark.parametrize("name, config, starts", FINETUNE, ids=str)
def test_finetune(work, data, name, config, starts):
    mmar = work(name)
    before = (mmar / "models" / "final_model.pt").stat().st_mtime_ns
    out = _ok(mmar, _datalist(data, name), "finetune", config)
    assert starts in out and "model.pt" in out
    assert (mmar / "models" / "final_model.pt").stat().st_mtime_ns > before


# -- broken as published, and files that are not task configs ------------------------------

BRATS = "convert_to_multi_channel_based_on_brats_classes"
BROKEN = [
    # a BraTS config left in GettingStarted: its transform module is not shipped
    (
        "cte_gettingstarted_ea",
        "config_validation_ts.json",
        (),
        f"would import and run code from module '{BRATS}'",
    ),
    (
        "cte_gettingstarted_ea",
        "config_validation_ts.json",
        ("allow_code=true",),
        f"no module '{BRATS}'",
    ),
    ("cte_fl_admin_ea", "config_validation.json", (), "the config file is empty ({})"),
    ("cte_fl_admin_ea", "config_validation_ckpt.json", (), "MMAR_CKPT is not defined"),
    ("cte_fl_admin_40", "config_validation.json", (), "MMAR_TORCHSCRIPT is not defined"),
    (
        "cte_fl_admin_40",
        "config_validation.json",
        ("dont_load_ts_model=true", "dont_load_ckpt_model=false"),
        "MMAR_CKPT is not defined",
    ),
]


@pytest.mark.parametrize("name, config, extra, message", BROKEN, ids=str)
def test_broken_as_published_fails_cleanly(work, data, name, config, extra, message):
    mmar = work(name)
    task = "check" if config == "config_validation_ts.json" else "validate"
    out = _fails(mmar, _datalist(data, name), task, config, *extra)
    assert message in out, out[-3000:]


NOT_TASK_CONFIGS = [
    *[
        (m, f, "a federated-learning config for NVFlare")
        for m in FL
        for f in ("config_fed_client.json", "config_fed_server.json")
    ],
    *[(m, "config_aiaa.json", "a Clara AIAA config") for m in GS[1:]],
    *[(m, "config_aiaa.json", "a Clara AIAA config") for m in DEEPGROW],
    *[(m, "deepgrow_pipeline.json", "a Clara AIAA config") for m in DEEPGROW if "3d" in m],
    *[(m, "config_automl.json", "Clara AutoML's controller config") for m in AUTOML],
]


@pytest.mark.parametrize("name, config, message", NOT_TASK_CONFIGS, ids=str)
def test_files_that_are_not_task_configs_say_what_they_are(
    clara_examples, data, tmp_path, name, config, message
):
    mmar = copy_mmar(clara_examples / "public" / name, tmp_path / name)
    for task in ("check", "train"):
        assert message in _fails(mmar, _datalist(data, name), task, config)


AUTOML_CONFIGS = [
    (m, f"trn_autoML_{kind}.json")
    for m in AUTOML
    for kind in ("Enum", "LR_LP", "Loss_Optimizer", "Transform", "TransformProb")
]


@pytest.mark.parametrize("name, config", AUTOML_CONFIGS, ids=str)
def test_automl_configs_check_as_search_spaces(clara_examples, data, tmp_path, name, config):
    mmar = copy_mmar(clara_examples / "public" / name, tmp_path / name)
    out = _ok(mmar, data["gs"], "check", config)
    assert "Clara AutoML search space" in out and "task=automl runs the search" in out
    assert "check passed" in out
