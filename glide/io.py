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


@contextlib.contextmanager
def _replacing(path: Path, suffix: str) -> Iterator[Path]:
    """The one implementation: a temp file ``.<name>.XXXX<suffix>`` beside ``path``, fsynced,
    given ordinary permissions and renamed onto ``path`` if the block succeeds, else removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path to write ``path`` through, for writers that need a file name; it ends
    in ``path``'s suffix (``.tmp.png``), so writers that pick the format from the name, such as
    ``savefig``, still work. It replaces ``path`` only if the block succeeds."""
    with _replacing(Path(path), ".tmp" + Path(path).suffix) as tmp:
        yield tmp


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(handle)`` on a binary temp file beside ``path``, then rename it onto
    ``path``. Creates the parent folder. Returns ``path`` as a :class:`~pathlib.Path`."""
    path = Path(path)
    with _replacing(path, ".tmp") as tmp, open(tmp, "wb") as handle:
        write(handle)
    return path


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
