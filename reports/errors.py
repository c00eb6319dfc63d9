"""The error raised for user mistakes in reports/.

``ReportError`` subclasses :class:`glide.errors.GlideError` (a ``ValueError``), so one
``except GlideError`` in a CLI catches mistakes from every package. Messages name the argument,
the bad value and the fix.
"""

from __future__ import annotations

from glide.errors import GlideError


class ReportError(GlideError):
    """A user-facing error while building a report (missing folder, unreadable table)."""
