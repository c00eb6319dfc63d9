"""The error raised for user mistakes anywhere in bench/.

``BenchError`` subclasses :class:`glide.errors.GlideError` (itself a ``ValueError``), so one
``except GlideError`` in a CLI catches mistakes from both packages. Messages name the argument,
the bad value and the allowed values or the fix.
"""

from __future__ import annotations

from glide.errors import GlideError


class BenchError(GlideError):
    """A user-facing error from the benchmark harness (bad option, bad file, missing resource)."""
