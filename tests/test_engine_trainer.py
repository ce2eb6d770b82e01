"""Trainer arguments from Clara globals, and the Trainer they build (engine/trainer.py)."""

from __future__ import annotations

import pytest
import torch

from mmar_hydra.engine.trainer import new_trainer, trainer_kwargs


@pytest.fixture
def restore_torch_flags():
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    yield
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.utils.deterministic.fill_uninitialized_memory = fill


def test_seeded_config_trains_deterministically_without_nan_filled_tensors(
    restore_torch_flags, tmp_path
):
    kwargs, _ = trainer_kwargs({"determinism": {"random_seed": 0}, "use_gpu": False})
    assert kwargs["deterministic"] == "warn"
    new_trainer({**kwargs, "logger": False, "default_root_dir": str(tmp_path)})
    assert torch.are_deterministic_algorithms_enabled()
    # torch's debugging fill of every new tensor costs ~5 % of a CPU step and changes no result
    assert torch.utils.deterministic.fill_uninitialized_memory is False


def test_unseeded_config_leaves_torch_flags_alone(restore_torch_flags, tmp_path):
    torch.use_deterministic_algorithms(False)
    torch.utils.deterministic.fill_uninitialized_memory = True
    kwargs, _ = trainer_kwargs({"use_gpu": False})
    assert "deterministic" not in kwargs
    new_trainer({**kwargs, "logger": False, "default_root_dir": str(tmp_path)})
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.utils.deterministic.fill_uninitialized_memory is True


def test_cuda_config_falls_back_to_the_cpu_with_a_note(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    kwargs, notes = trainer_kwargs({"use_gpu": True, "amp": True})
    assert kwargs["accelerator"] == "cpu"
    assert kwargs["precision"] == "32-true"
    assert any("no CUDA device" in n for n in notes)
    assert any("amp=true" in n for n in notes)
