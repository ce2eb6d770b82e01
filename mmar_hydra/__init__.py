"""mmar_hydra: run NVIDIA Clara Train MMARs with Hydra, PyTorch Lightning and MONAI.

Nothing heavy is imported here, so ``python -m mmar_hydra`` starts fast; see
``ARCHITECTURE.md`` for the module map.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
