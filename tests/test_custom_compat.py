"""The custom/ compat import layer and the 4.0 SegmentationSaver translation (fast, no data)."""

from __future__ import annotations

import importlib
import sys

from mmar_hydra.components.custom_compat import custom_imports
from mmar_hydra.reader.compat_inversion import handler_to_transforms

OLD_STYLE = """\
import numpy as np
from monai.transforms.compose import MapTransform, Randomizable
from monai.metrics import compute_meandice


class Old(MapTransform, Randomizable):
    def __call__(self, data):
        return data


RAGGED = np.asarray([[1, 2], [3]])
"""


def _import_custom(custom, name: str, *also: str):  # noqa: ANN202
    """``name`` imported from the ``custom`` folder through the compat layer; (module, notes)."""
    notes: list[str] = []
    sys.path.insert(0, str(custom))
    try:
        with custom_imports(custom, say=notes.append):
            module = importlib.import_module(name)
    finally:
        sys.path.remove(str(custom))
        for loaded in (name, *also):
            sys.modules.pop(loaded, None)
    return module, notes


def test_custom_code_of_old_monai_imports_with_one_note_per_alias(tmp_path):
    custom = tmp_path / "custom"
    (custom / "oldpkg").mkdir(parents=True)
    (custom / "oldpkg" / "__init__.py").write_text("")
    (custom / "oldpkg" / "transforms.py").write_text(OLD_STYLE)
    module, notes = _import_custom(custom, "oldpkg.transforms", "oldpkg")
    from monai.metrics import compute_dice
    from monai.transforms import MapTransform

    assert issubclass(module.Old, MapTransform)
    assert module.compute_meandice is compute_dice
    assert module.RAGGED.dtype == object  # numpy 1's rule for ragged lists
    assert len(notes) == 3, notes
    assert any("monai.transforms.compose import MapTransform, Randomizable" in n for n in notes)
    assert any("compute_dice as compute_meandice" in n for n in notes)
    # outside the context, the library is untouched
    assert not any(type(f).__name__ == "_CustomFinder" for f in sys.meta_path)


CUIMAGE_USER = """\
from monai.utils import optional_import

cuimage, has_cci = optional_import("cuimage")
"""


def test_cuimage_is_served_to_custom_code_only_while_it_imports(tmp_path):
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "reader_mod.py").write_text(CUIMAGE_USER)
    module, notes = _import_custom(custom, "reader_mod")
    from mmar_hydra.pathology import cuimage_compat

    assert module.has_cci and module.cuimage is cuimage_compat
    assert notes == [
        "compat: import cuimage -> mmar_hydra.pathology.cuimage_compat (cuCIM's early-access "
        "predecessor, never on PyPI: MONAI's WSIReader reads the slides)"
    ]
    assert "cuimage" not in sys.modules  # nothing outside custom/ code sees the alias


def test_40_saver_with_code_output_transform_runs_it_before_saving():
    handler = {
        "name": "SegmentationSaver",
        "args": {
            "output_dir": "eval",
            "output_transform": "lambda x: __import__('monai').transforms.AsDiscrete("
            "argmax=True)(x['pred_inverted'])",
        },
    }
    code, save = handler_to_transforms("SegmentationSaver", handler)
    assert code["path"].endswith("OutputTransformd")
    assert code["args"]["key"] == "pred_inverted_saved" and code["args"]["like"] == "pred_inverted"
    assert save["name"] == "SaveImaged" and save["args"]["keys"] == "pred_inverted_saved"


OLD_PLOT = """\
from monai.visualize import plot_2d_or_3d_image
"""


def test_old_positional_plot_2d_or_3d_image_writes_a_gif(tmp_path):
    """MONAI <= 0.6 order (..., max_channels, max_frames, tag): 64 is frames, not an axis."""
    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "plot_mod.py").write_text(OLD_PLOT)
    module, notes = _import_custom(custom, "plot_mod")
    assert any("MONAI 0.7 put frame_dim before max_frames" in n for n in notes)
    writer = SummaryWriter(str(tmp_path / "tb"))
    volume = np.random.default_rng(0).random((1, 1, 16, 16, 8)).astype(np.float32)
    module.plot_2d_or_3d_image(volume, 1, writer, 0, 1, 64, "region_1_image")
    writer.close()
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0})
    events.Reload()
    assert any(t.startswith("region_1_image") for t in events.Tags()["images"])
