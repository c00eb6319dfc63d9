"""Number formatting shared by the sections: one precision per column, intervals, missing.

A missing number is never printed as 0 or left blank: :func:`missing_text` says why.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def decimals_for(values: Iterable[float], significant: int = 4) -> int:
    """Decimals that give about ``significant`` digits to the column's typical magnitude."""
    mags = sorted(abs(v) for v in values if is_number(v) and v != 0)
    if not mags:
        return 2
    typical = mags[len(mags) // 2]
    return int(min(6, max(0, significant - 1 - math.floor(math.log10(typical)))))


def fmt(value: float, decimals: int) -> str:
    if not is_number(value):
        return "n/a"
    return f"{value:.{decimals}f}"


def interval_text(low: float, high: float, decimals: int) -> str:
    """``"[low, high]"``; ``"no interval"`` when neither end is known."""
    if not is_number(low) and not is_number(high):
        return "no interval"
    return f"[{fmt(low, decimals)}, {fmt(high, decimals)}]"


def missing_text(note: str) -> str:
    note = " ".join(str(note or "").split())
    return f"not computed: {note}" if note else "not computed: no reason recorded"


def scale_text(scale: float) -> str:
    """``3.0 -> "3"``, ``1.5 -> "1.5"``; "n/a" for conditions without a scale."""
    return f"{scale:g}" if is_number(scale) else "n/a"


def short_hash(digest: str | None, length: int = 16) -> str:
    if not digest:
        return "not recorded"
    return digest if len(digest) <= length else f"{digest[:length]}…"
