"""Shared fixtures. Tests use the bundled samples/ or data they generate, never ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"

# Workers spawned by the stage runner must find the package; it is installed editable, this is for plain checkouts.
os.environ.setdefault("PYTHONPATH", str(REPO))


@pytest.fixture
def samples() -> Path:
    return SAMPLES
