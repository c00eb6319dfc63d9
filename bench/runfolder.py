"""Writing one run folder: ``spec.json``, ``images/NNNNN.png`` and ``manifest.jsonl``
(CONTRACTS.md "Run folders"; reading them is :mod:`bench.run_contract`).

The manifest is the record of finished work. A line is appended (under a file lock, so several
processes may share a run) only after its PNG has been atomically renamed into place. Reading
tolerates what a killed process can leave behind: a truncated last line is ignored, a line whose
image is missing does not count, and duplicate indices count once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from filelock import FileLock

from bench.errors import BenchError
from bench.run_contract import read_manifest
from bench.spec import RunSpec
from glide.io import atomic_write_text


def image_name(index: int, num_samples: int) -> str:
    width = max(5, len(str(max(num_samples - 1, 0))))
    return f"images/{index:0{width}d}.png"


class RunFolder:
    """The folder ``<sweep_out>/runs/<run_id>/`` of one :class:`RunSpec`."""

    def __init__(self, sweep_out: Path, spec: RunSpec) -> None:
        self.spec = spec
        self.path = Path(sweep_out) / "runs" / spec.run_id
        self.manifest_path = self.path / "manifest.jsonl"
        self._lock = FileLock(str(self.path / ".manifest.lock"))

    # -- setup -------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the folder and ``spec.json``; refuse a folder holding a different spec."""
        (self.path / "images").mkdir(parents=True, exist_ok=True)
        spec_path = self.path / "spec.json"
        wanted = self.spec.to_json()
        if spec_path.is_file():
            try:
                existing = json.loads(spec_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                existing = None
            if existing == wanted:
                return
            if existing is not None and existing.get("run_id") == wanted["run_id"]:
                raise BenchError(
                    f"{spec_path}: differs from the spec it is named after; it was edited by "
                    "hand; delete that run folder to regenerate it"
                )
        atomic_write_text(spec_path, json.dumps(wanted, indent=2, sort_keys=True) + "\n")

    # -- manifest ----------------------------------------------------------------------------
    def read_manifest(self) -> dict[int, dict[str, Any]]:
        """Finished samples by index (the tolerant reading of :mod:`bench.run_contract`:
        records whose image file exists; first record wins; a truncated last line ignored)."""
        done, _ = read_manifest(self.path, strict=False)
        return {index: image.record for index, image in done.items()}

    def append(self, records: list[dict[str, Any]]) -> None:
        """Append manifest lines for images that are already in place."""
        for record in records:
            if not (self.path / record["file"]).is_file():
                raise AssertionError(f"manifest record before its image: {record}")
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        with self._lock:
            # A killed writer may have left a line without its newline: start a fresh line.
            if self.manifest_path.is_file() and self.manifest_path.stat().st_size > 0:
                with open(self.manifest_path, "rb") as handle:
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        text = "\n" + text
            with open(self.manifest_path, "a", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())

    def compact(self) -> None:
        """Rewrite the manifest sorted by index, one line per finished image (atomic)."""
        with self._lock:
            done = self.read_manifest()
            text = "".join(json.dumps(done[i], sort_keys=True) + "\n" for i in sorted(done))
            if self.manifest_path.is_file():
                if self.manifest_path.read_text(encoding="utf-8") == text:
                    return  # already clean: a finished run's files are left untouched
            atomic_write_text(self.manifest_path, text)

    def is_complete(self) -> bool:
        return len(self.read_manifest()) >= self.spec.settings.num_samples

    def image_files(self) -> list[Path]:
        """Image paths in index order; refuses an unfinished run."""
        done = self.read_manifest()
        n = self.spec.settings.num_samples
        missing = [i for i in range(n) if i not in done]
        if missing:
            raise BenchError(
                f"run {self.spec.label} ({self.path}): {len(missing)} of {n} images are not "
                "finished; run the sweep again to complete it"
            )
        return [self.path / done[i]["file"] for i in range(n)]
