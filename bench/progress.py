"""Whether the harness draws progress bars: ``--no-progress`` turns off every bar of a run.

A context variable rather than an argument threaded through every metric: the sweep sets it
once around the whole run (``with progress_bars(False): ...``) and each ``tqdm`` call passes
``disable=not progress_enabled()``. Under torchrun only rank 0 draws bars, and ``--quiet``
hides them (:func:`glide.log.show_progress`), whatever the context variable says.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from glide.log import show_progress

__all__ = ["progress_bars", "progress_enabled"]

_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("bench_progress", default=True)


def progress_enabled() -> bool:
    """True unless inside ``progress_bars(False)``, on a rank other than 0, or ``--quiet``."""
    return _ENABLED.get() and show_progress()


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """Draw (or not) progress bars inside the block; restored afterwards."""
    token = _ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        _ENABLED.reset(token)
