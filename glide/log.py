"""One logging configuration for every command (sweeps, sampling), torchrun-aware.

Messages go through the standard :mod:`logging` module (loggers named after their modules:
``logging.getLogger(__name__)``); a command calls :func:`configure` once, from its options
(``--quiet`` / ``--verbose``, :func:`add_verbosity_arguments`), and asks :func:`show_progress`
whether to draw progress bars.

Under ``torchrun`` (``RANK`` set) only rank 0 shows progress bars and info messages; the other
ranks show warnings and errors only, each line prefixed with ``[rank N]``:

    rank 0:   "generating 4 runs ...", "warning: ...", "error: ..."
    rank 1:   "[rank 1] warning: ...", "[rank 1] error: ..."

``--quiet``: warnings and errors only, no progress bars (every rank). ``--verbose``: debug
messages too (rank 0; other ranks still warnings and up). Python warnings
(:func:`warnings.warn`) are routed through the same handler. Results a command exists to
print (paths of written files, tables) stay on stdout, outside logging.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator

__all__ = [
    "add_verbosity_arguments",
    "command_logging",
    "configure",
    "process_rank",
    "show_progress",
    "verbosity_from_args",
]

QUIET, NORMAL, VERBOSE = -1, 0, 1
_state = {"verbosity": NORMAL, "rank": None}


def process_rank() -> int:
    """This process's global rank under torchrun (``RANK``), 0 otherwise or when malformed."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


class _Formatter(logging.Formatter):
    """``message`` for info and debug, ``warning: message`` / ``error: message`` above, with a
    ``[rank N]`` prefix on ranks other than 0."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.prefix = f"[rank {rank}] " if rank else ""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            level = "error" if record.levelno >= logging.ERROR else "warning"
            message = f"{level}: {message}"
        return self.prefix + message


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest's capture, tqdm's redirection)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # the base class assigns it; always follow sys.stderr
        pass


def configure(verbosity: int = NORMAL, *, rank: int | None = None) -> None:
    """Set up the root logger for a command; calling it again replaces the earlier setup.

    ``verbosity``: ``QUIET`` (-1), ``NORMAL`` (0) or ``VERBOSE`` (1). ``rank``: the process's
    global rank (default: ``RANK`` from torchrun, else 0).
    """
    rank = process_rank() if rank is None else rank
    _state.update(verbosity=verbosity, rank=rank)
    if verbosity <= QUIET or rank != 0:
        level = logging.WARNING
    elif verbosity >= VERBOSE:
        level = logging.DEBUG
    else:
        level = logging.INFO
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(_Formatter(rank))
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)


@contextlib.contextmanager
def command_logging(verbosity: int = NORMAL, *, rank: int | None = None) -> Iterator[None]:
    """:func:`configure` for the duration of a command, then the previous setup restored (a
    command run in-process, e.g. by a test, leaves logging as it found it)."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, dict(_state))
    try:
        configure(verbosity, rank=rank)
        yield
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        _state.clear()
        _state.update(saved[2])


def show_progress() -> bool:
    """Whether this process draws progress bars: rank 0, and not ``--quiet``."""
    rank = _state["rank"] if _state["rank"] is not None else process_rank()
    return rank == 0 and _state["verbosity"] > QUIET


def add_verbosity_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--quiet`` / ``--verbose`` (mutually exclusive)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q", "--quiet", action="store_true",
        help="warnings and errors only, no progress bars (under torchrun ranks other than 0 "
        "always show only warnings and errors, with a [rank N] prefix)",
    )  # fmt: skip
    group.add_argument("-v", "--verbose", action="store_true", help="debug messages too (rank 0)")


def verbosity_from_args(args: argparse.Namespace) -> int:
    if getattr(args, "quiet", False):
        return QUIET
    if getattr(args, "verbose", False):
        return VERBOSE
    return NORMAL
