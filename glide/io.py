"""File I/O helpers every package shares: atomic writes and file hashing.

Every writer goes through a temp file in the destination folder, flushed and fsynced, then
``os.replace``d onto the destination, so a reader (or a resumed run) never sees a half-written
file, and a failed write leaves the old file untouched and no temp file behind. The result gets
ordinary permissions (``0666`` minus the umask) rather than ``mkstemp``'s private ``0600``:
images, reports, checkpoints and datasets are meant to be shared.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_path",
    "atomic_torch_save",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "sha256_file",
]


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _temp_beside(path: Path, suffix: str) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)


def _publish(tmp: str, path: Path) -> None:
    """fsync ``tmp``, give it ordinary permissions and rename it onto ``path``."""
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.chmod(tmp, _default_mode())
    os.replace(tmp, path)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(handle)`` on a binary temp file beside ``path``, then rename it onto ``path``.

    Creates the parent folder. Returns ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    fd, tmp = _temp_beside(path, ".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """For writers that need a file name (``savefig``, sqlite backups): yield a temp path beside
    ``path`` with the same suffix (so format detection still works); it replaces ``path`` only
    if the block succeeds, and is removed otherwise. Creates the parent folder."""
    path = Path(path)
    fd, tmp = _temp_beside(path, ".tmp" + path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        _publish(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Atomically write ``data`` to ``path``."""
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` atomically onto ``path`` (no half-written weights or states)."""
    import torch

    return atomic_write(path, lambda handle: torch.save(obj, handle))


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
