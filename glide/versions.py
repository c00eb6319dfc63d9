"""Installed versions of the packages glide-bench's numbers depend on, for sweep.json and sidecars.

Cheap: reads package metadata only (no torch import unless asked for the CUDA runtime), so the
report builder can use :data:`NUMERIC_PACKAGES` without loading anything.
"""

from __future__ import annotations

import hashlib
import platform
import re
from importlib import metadata
from pathlib import Path

__all__ = ["NUMERIC_PACKAGES", "installed_versions", "lock_record", "read_lock"]

# Distribution names, in the order the report lists them: what generates the images (torch,
# numpy), what reads and writes them (pillow), the judges and metrics (torchvision,
# torch-fidelity, open_clip_torch and timm under it, scipy), the caption source (pycocotools)
# and the tables (pandas, pyarrow, matplotlib for the plots).
NUMERIC_PACKAGES = (
    "glide-bench",
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "pillow",
    "torch-fidelity",
    "open_clip_torch",
    "timm",
    "pycocotools",
    "pandas",
    "pyarrow",
    "matplotlib",
)
NOT_INSTALLED = "not installed"
_LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions(packages: tuple[str, ...] = NUMERIC_PACKAGES) -> dict[str, str]:
    """``{"python": ..., "platform": ..., <package>: <version or "not installed">}``."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in packages:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = NOT_INSTALLED
    return out


def read_lock(path: Path = _LOCK) -> dict[str, str]:
    """``{normalised name: version}`` of a pip-compile / uv lock file (``name==version`` lines)."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            pins[_normalise(match.group(1))] = match.group(3)
    return pins


def lock_record(path: Path = _LOCK) -> str:
    """One line on whether this environment is the one ``requirements.lock`` describes.

    ``requirements.lock sha256:<12 hex>: all N locked packages installed at their versions``, or
    the packages that differ (installed vs locked), or ``no requirements.lock beside the
    package`` (a non-editable install).
    """
    if not path.is_file():
        return "no requirements.lock beside the package (not an install from this repository)"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    pins = read_lock(path)
    differ = []
    for name, locked in sorted(pins.items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = NOT_INSTALLED
        if installed != locked:
            differ.append(f"{name} {installed} (locked {locked})")
    head = f"requirements.lock sha256:{digest}"
    if not differ:
        return f"{head}: all {len(pins)} locked packages installed at their locked versions"
    return f"{head}: {len(differ)} of {len(pins)} differ: " + ", ".join(differ)
