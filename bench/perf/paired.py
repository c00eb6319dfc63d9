"""Paired timing: two settings timed in alternating rounds in one process.

Each round times one batch of A, then one batch of B, so that whatever else the machine does
slows both alike; the figure to report is the median of the per-round ratios A/B (a benchmark's
printout, never an assertion).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PairedTiming:
    """Seconds per image of A and B in each round, and their per-round ratios A/B."""

    a: tuple[float, ...]
    b: tuple[float, ...]

    @property
    def ratios(self) -> tuple[float, ...]:
        return tuple(x / y for x, y in zip(self.a, self.b, strict=True))

    def summary(self, name_a: str, name_b: str) -> str:
        return (
            f"median {name_a} {statistics.median(self.a):.3f} s/image, {name_b} "
            f"{statistics.median(self.b):.3f} s/image, median paired ratio "
            f"{statistics.median(self.ratios):.2f}x ({len(self.a)} rounds)"
        )


def time_paired(
    run_a: Callable[[], object],
    run_b: Callable[[], object],
    *,
    images: int,
    rounds: int,
    report: Callable[[int, float, float], None] | None = None,
) -> PairedTiming:
    """Time ``run_a`` then ``run_b`` (each making ``images`` images) ``rounds`` times;
    ``report(round, a, b)`` is called after each round with its seconds per image."""
    a, b = [], []
    for r in range(rounds):
        start = time.perf_counter()
        run_a()
        a.append((time.perf_counter() - start) / images)
        start = time.perf_counter()
        run_b()
        b.append((time.perf_counter() - start) / images)
        if report is not None:
            report(r, a[-1], b[-1])
    return PairedTiming(tuple(a), tuple(b))
