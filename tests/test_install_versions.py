"""Recorded versions: what glide.versions reads, the lock check sweep.json carries, the report's
'Software versions' table (gaps of an older sweep.json shown as such), sampling sidecars."""

from __future__ import annotations

import argparse
from importlib import metadata

from glide.cli.common import run_metadata
from glide.versions import NUMERIC_PACKAGES, installed_versions, lock_record, read_lock
from reports.blocks import KeyValues, Paragraph
from reports.evaluated import _version_blocks


def test_installed_versions_cover_the_numeric_packages():
    versions = installed_versions()
    assert set(versions) == {"python", "platform", *NUMERIC_PACKAGES}
    assert versions["scipy"] == metadata.version("scipy")
    assert versions["torchvision"] == metadata.version("torchvision")
    assert installed_versions(("no-such-package-xyz",))["no-such-package-xyz"] == "not installed"


def test_lock_record_names_what_differs(tmp_path):
    lock = tmp_path / "requirements.lock"
    scipy = metadata.version("scipy")
    lock.write_text(
        "# header\n"
        f"scipy=={scipy} \\\n    --hash=sha256:00\n"
        "numpy==0.0.1 \\\n    --hash=sha256:11\n    # via glide-bench\n"
    )
    assert read_lock(lock) == {"scipy": scipy, "numpy": "0.0.1"}
    record = lock_record(lock)
    assert record.startswith("requirements.lock sha256:")
    assert f"1 of 2 differ: numpy {metadata.version('numpy')} (locked 0.0.1)" in record
    lock.write_text(f"scipy=={scipy} \\\n    --hash=sha256:00\n")
    assert lock_record(lock).endswith("all 1 locked packages installed at their locked versions")
    assert lock_record(tmp_path / "absent.lock").startswith("no requirements.lock")


def test_report_versions_table_marks_what_an_older_sweep_json_lacks():
    blocks = _version_blocks({"python": "3.11.7", "torch": "2.13.0+cpu", "numpy": "2.4.6"})
    table = next(b for b in blocks if isinstance(b, KeyValues))
    rows = dict(table.rows)
    assert rows["torch"] == "2.13.0+cpu"
    for name in ("torchvision", "scipy", "open_clip_torch", "torch-fidelity", "pycocotools"):
        assert rows[name] == "not recorded"
    texts = [b.text for b in blocks if isinstance(b, Paragraph)]
    assert any("does not record" in t and "scipy" in t for t in texts)
    built = [t for t in texts if t.startswith("This report was built with python ")]
    assert built and "reportlab" in built[0]
    assert any("Not recorded" in b.text for b in _version_blocks({}) if isinstance(b, Paragraph))


def test_report_versions_table_complete_for_a_current_sweep_json():
    recorded = {**installed_versions(), "environment": "requirements.lock sha256:abc: all"}
    blocks = _version_blocks(recorded)
    rows = dict(next(b for b in blocks if isinstance(b, KeyValues)).rows)
    assert "not recorded" not in rows.values()
    assert not any("does not record" in b.text for b in blocks if isinstance(b, Paragraph))


def test_sampling_sidecars_record_versions():
    meta = run_metadata("glide.cli.sample", ["--prompt", "x"], argparse.Namespace(seed=0))
    versions = meta["versions"]
    for name in ("glide-bench", "torch", "numpy", "pillow", "torch CUDA runtime"):
        assert versions.get(name), name
