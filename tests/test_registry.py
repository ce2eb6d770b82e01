"""registry.resolve_class: short names, MONAI aliases, qualified paths, custom code gating."""

from __future__ import annotations

import re
import sys
import uuid

import pytest

from mmar_hydra.components.registry import known_names, resolve_class
from mmar_hydra.errors import CodeNotAllowedError, ComponentError


@pytest.fixture
def clean_sys_path(monkeypatch):
    """resolve_class puts custom/ on sys.path; keep that from leaking into other tests."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def _module_name() -> str:
    return f"mmar_custom_{uuid.uuid4().hex[:8]}"  # fresh: sys.modules caches imports


@pytest.mark.parametrize(
    "alias,canonical",
    [
        ("ToTensorD", "ToTensord"),
        ("ToTensorDict", "ToTensord"),
        ("BasicUnet", "BasicUNet"),
        ("Unet", "UNet"),
        ("LoadImageD", "LoadImaged"),
    ],
)
def test_monai_aliases_resolve_to_the_canonical_class(alias, canonical):
    assert resolve_class(alias) is resolve_class(canonical)


@pytest.mark.parametrize(
    "name,module",
    [
        ("Identity", "monai.transforms"),  # monai.transforms is searched before torch.nn
        ("SimpleInferer", "monai.inferers"),
        ("SmartCacheDataset", "monai.data"),
        ("ThreadDataLoader", "monai.data"),
        ("Adam", "torch.optim"),
        ("CosineAnnealingLR", "torch.optim.lr_scheduler"),
        ("BCEWithLogitsLoss", "torch.nn"),
        ("DiceMetric", "monai.metrics"),
    ],
)
def test_short_names_search_the_clara_modules_in_order(name, module):
    assert resolve_class(name).__module__.startswith(module)


def test_qualified_names_and_path_key():
    import torch

    assert resolve_class("torch.optim.lr_scheduler.StepLR") is torch.optim.lr_scheduler.StepLR
    # 'path' (Clara's key for user classes) wins over 'name'
    assert resolve_class("UNet", "torch.optim.Adam") is torch.optim.Adam
    assert resolve_class(path="monai.networks.nets.UNet") is resolve_class("UNet")


def test_unknown_short_name_suggests_case_insensitive_and_close_matches():
    with pytest.raises(ComponentError) as err:
        resolve_class("dICELoss", where="train.loss", file="config/config_train.json")
    e = err.value
    assert e.what == "unknown component 'dICELoss'"
    assert e.path == "train.loss.name" and e.file == "config/config_train.json"
    assert "'DiceLoss'" in e.fix and "fully qualified" in e.expected
    with pytest.raises(ComponentError, match="unknown component 'Zzzqqq'") as err:
        resolve_class("Zzzqqq")
    assert "check the spelling" in err.value.fix


def test_unknown_attribute_in_a_trusted_module_gets_did_you_mean():
    with pytest.raises(ComponentError) as err:
        resolve_class(path="monai.networks.nets.UNett", where="train.model")
    assert "has no 'UNett'" in err.value.what and "'UNet'" in err.value.fix
    assert err.value.path == "train.model.path"


def test_missing_name_and_path():
    with pytest.raises(ComponentError, match="neither 'name' nor 'path'"):
        resolve_class(None, None, where="train.loss")


@pytest.mark.parametrize(
    "target,why",
    [
        ("torch.load", "is a function (torch.serialization.load)"),
        ("torch.hub.load", "is a function"),
        ("monai.utils.run_cmd", "is a function"),
        ("monai.utils.instantiate", "is a function"),
        ("monai.transforms.utils.allow_missing_keys_mode", "is a function"),  # inside a package
        ("monai.bundle.ConfigParser", "from outside the packages"),
        ("monai.utils.enums.StrEnum", "from outside the packages"),
        ("monai.config.deviceconfig.OptionalImportError", "from outside the packages"),
        ("torch.utils.data.datapipes.iter.IterableWrapper", "from outside the packages"),
    ],
)
def test_only_allowlisted_classes_are_built_without_allow_code(target, why):
    with pytest.raises(CodeNotAllowedError, match=re.escape(why)) as err:
        resolve_class(path=target, where="train.model")
    assert "allow_code=true" in err.value.fix and err.value.path == "train.model.path"
    assert resolve_class(path=target, allow_code=True) is not None  # the user trusts the MMAR


@pytest.mark.parametrize(
    "target",
    ["os.system", "subprocess.Popen", "builtins.exec", "importlib.import_module", "pickle.loads"],
)
def test_other_libraries_are_refused_before_import(target):
    with pytest.raises(CodeNotAllowedError, match="would import and run code"):
        resolve_class(path=target, where="train.pre_transforms[0]")


def test_short_names_resolve_to_allowlisted_classes_only():
    assert resolve_class("UNet").__module__.startswith("monai.networks")
    # torch.nn.functional's functions are not components, even by a short name
    with pytest.raises(ComponentError, match="unknown component"):
        resolve_class("relu")


def test_attribute_walk_cannot_escape_the_trusted_packages():
    # torch has 'os' as an attribute: torch.os.system is os.system, not torch code
    with pytest.raises(CodeNotAllowedError, match="torch.os.system"):
        resolve_class(path="torch.os.system")


def test_other_modules_need_allow_code_and_say_what_would_be_imported(tmp_path, clean_sys_path):
    mod = _module_name()
    (tmp_path / f"{mod}.py").write_text(
        "class Net:\n    def __init__(self, width=1):\n        pass\n"
    )
    with pytest.raises(CodeNotAllowedError) as err:
        resolve_class(path=f"{mod}.Net", custom_dir=tmp_path, where="train.model", file="c.json")
    e = err.value
    assert f"'{mod}'" in e.what and e.path == "train.model.path" and e.file == "c.json"
    assert "set allow_code=true" in e.fix
    assert mod not in sys.modules  # refused before anything was imported
    cls = resolve_class(path=f"{mod}.Net", custom_dir=tmp_path, allow_code=True)
    assert cls.__name__ == "Net" and str(tmp_path.resolve()) in sys.path


def test_typo_of_monai_is_hinted_in_the_refusal():
    with pytest.raises(CodeNotAllowedError, match="meant 'monai'"):
        resolve_class(path="moani.networks.nets.UNet")


def test_custom_import_errors_are_explained(tmp_path, clean_sys_path):
    broken, needs, nested = _module_name(), _module_name(), _module_name()
    (tmp_path / f"{broken}.py").write_text("raise RuntimeError('boom in custom code')\n")
    (tmp_path / f"{needs}.py").write_text("import not_installed_pkg_xyz\n")
    pkg = tmp_path / nested
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text("class Outer:\n    class Inner:\n        pass\n")

    def resolve(path):
        return resolve_class(path=path, custom_dir=tmp_path, allow_code=True, where="train.model")

    with pytest.raises(ComponentError, match="RuntimeError: boom in custom code"):
        resolve(f"{broken}.Net")
    with pytest.raises(ComponentError, match="not_installed_pkg_xyz"):
        resolve(f"{needs}.Net")
    with pytest.raises(ComponentError, match="no module 'nosuchmodule_xyz'"):
        resolve("nosuchmodule_xyz.Net")
    assert resolve(f"{nested}.nets.Outer.Inner").__qualname__ == "Outer.Inner"  # nested class
    with pytest.raises(ComponentError, match="has no 'Inr'"):
        resolve(f"{nested}.nets.Outer.Inr")


def test_known_names_lists_aliases_and_torch_classes():
    names = known_names()
    assert {"UNet", "ToTensorD", "Adam", "StepLR", "CrossEntropyLoss", "Novograd"} <= set(names)
    assert names == sorted(names)
