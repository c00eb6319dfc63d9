"""Errors raised for user mistakes in the glide package.

Every message names the argument, the bad value and what to do instead; CLIs print it as
``error: ...`` and exit with status 2.
"""

from __future__ import annotations


class GlideError(ValueError):
    """A user-facing error: bad argument, bad file, missing resource."""


class CheckpointError(GlideError):
    """A checkpoint file that is missing, corrupt, or does not match the architecture."""
