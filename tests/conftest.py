"""Shared test fixtures.

The GLIDE reference fixtures ship with the tests in ``tests/data/glide_reference`` (a copy of
the workspace's ``shared/glide_reference``; see tests/data/README.md); set
``GLIDE_REFERENCE_DIR`` to point at another copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_REFERENCE = REPO_ROOT / "tests" / "data" / "glide_reference"


def _reference_dir() -> Path:
    env = os.environ.get("GLIDE_REFERENCE_DIR")
    return Path(env) if env else BUNDLED_REFERENCE


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    path = _reference_dir()
    if not (path / "README.md").is_file():
        pytest.fail(
            f"GLIDE reference fixtures not found at {path}; set GLIDE_REFERENCE_DIR to the "
            "folder that holds manifests/ and golden_small/"
        )
    return path
