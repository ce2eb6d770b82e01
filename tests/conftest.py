"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CLARA_EXAMPLES = SHARED / "clara_examples"

# Tests run on 2 shared cores: keep torch from oversubscribing them.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def clara_examples() -> Path:
    """../shared/clara_examples; tests using it are skipped cleanly when it is absent."""
    if not CLARA_EXAMPLES.is_dir():
        pytest.skip("../shared/clara_examples is not present")
    return CLARA_EXAMPLES
