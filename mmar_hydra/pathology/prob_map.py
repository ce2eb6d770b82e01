"""MONAI's ``ProbMapProducer`` with its maps written atomically.

Clara 4.0's inference config names ``ProbMapProducer`` (MONAI 0.5's: ``output_dir``,
``output_postfix``, ``dtype``, ``name``). Today's MONAI handler takes the same arguments
(plus ``prob_key``) and reads each patch's ``name`` / ``mask_location`` from the image's
metadata and the slides from ``dataset.image_data``, which
:class:`~mmar_hydra.pathology.datasets.MaskedInferenceWSIDataset` provides. This subclass
only changes how a finished map is written: ``<output_dir>/<slide><postfix>.npy`` through
a temp file and a rename, so a killed run never leaves half a map.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from monai.handlers import ProbMapProducer as _MonaiProbMapProducer

from mmar_hydra.writers.atomic import atomic_write_bytes

__all__ = ["ProbMapProducer"]


class ProbMapProducer(_MonaiProbMapProducer):
    """Args: as MONAI's ``ProbMapProducer`` (``output_dir``, ``output_postfix``,
    ``prob_key``, ``dtype``, ``name``)."""

    def __init__(self, output_dir: str = "./", output_postfix: str = "", **kwargs) -> None:
        super().__init__(output_dir=output_dir, output_postfix=output_postfix, **kwargs)
        self.output_dir = Path(output_dir)
        self.output_postfix = output_postfix
        self.written: list[Path] = []

    def save_prob_map(self, name: str) -> None:
        """Write the finished map of slide ``name`` and free it."""
        buffer = io.BytesIO()
        np.save(buffer, self.prob_map[name])
        path = self.output_dir / f"{name}{self.output_postfix}.npy"
        atomic_write_bytes(path, buffer.getvalue())
        self.written.append(path)
        self.num_done_images += 1
        self.logger.info(
            f"probability map of '{name}' written [{self.num_done_images}/{self.num_images}]"
        )
        del self.prob_map[name]
        del self.counter[name]
