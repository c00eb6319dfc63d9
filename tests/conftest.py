"""Shared test fixtures.

The GLIDE reference fixtures live in ``../shared/glide_reference`` beside the checkout (CI lays
them out the same way); set ``GLIDE_REFERENCE_DIR`` to point elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _reference_dir() -> Path:
    env = os.environ.get("GLIDE_REFERENCE_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "glide_reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    path = _reference_dir()
    if not (path / "README.md").is_file():
        pytest.fail(
            f"GLIDE reference fixtures not found at {path}; set GLIDE_REFERENCE_DIR to the "
            "folder that holds manifests/ and golden_small/"
        )
    return path
