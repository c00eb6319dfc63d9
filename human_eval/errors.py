"""Errors raised for user mistakes in human_eval.

Every message names the argument or file, the bad value and what to do instead; the CLIs print
it as ``error: ...`` and exit with status 2, the app shows it on the page.
"""

from __future__ import annotations


class HumanEvalError(ValueError):
    """A user-facing error: bad argument, bad database URL, bad run folder, unknown study."""
