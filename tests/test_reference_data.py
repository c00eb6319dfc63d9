"""The bundled reference fixtures (tests/data/glide_reference) are the workspace's copy."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_REFERENCE = REPO_ROOT / "tests" / "data" / "glide_reference"  # as tests/conftest.py

WORKSPACE = REPO_ROOT.parent / "shared" / "glide_reference"


def _digests(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_bundled_fixtures_are_complete():
    names = set(_digests(BUNDLED_REFERENCE))
    for needed in ("README.md", "golden_small/forward.pt", "golden_small/state_dict.pt",
                   "manifests/base.json", "vocab/README.md"):  # fmt: skip
        assert needed in names


@pytest.mark.skipif(not WORKSPACE.is_dir(), reason="no ../shared/glide_reference beside the clone")
def test_bundled_fixtures_equal_the_workspace_copy():
    assert _digests(BUNDLED_REFERENCE) == _digests(WORKSPACE)
