"""The ratings table as text, with its anchor and interval method (printed by the CLI)."""

from __future__ import annotations

import math

from human_eval.ratings.compute import AGREEMENT_UNIT, RatingsResult

PAPER_ANCHOR_NOTE = (
    "Only differences between ratings compare across studies: the GLIDE paper's Table 1 uses "
    "its own anchor (its unguided model is at -88.6 Elo, not 0)."
)


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "s")


def _num(x: float, digits: int = 1) -> str:
    return "nan" if x is None or not math.isfinite(float(x)) else f"{float(x):.{digits}f}"


def _interval(value: float, low: float, high: float, digits: int = 1) -> str:
    return f"{_num(value, digits)} [{_num(low, digits)}, {_num(high, digits)}]"


def _question_block(result: RatingsResult, question: str, level: float, n_boot: int) -> list[str]:
    info = result.intervals[question]
    pct = f"{100 * level:g}%"
    lines = [
        f"{question}: Elo points, anchor {result.anchor}",
        f"  {pct} intervals: bootstrap over {_count(info['units'], info['unit'])} ({n_boot} "
        f"replicates; percentile widened x{_num(info['widening_factor'], 2)} for "
        f"{info['units']} units)",
        f"  {'condition':<16} {'Elo':>26} {'Bradley-Terry':>26} {'votes':>7}",
    ]
    rows = result.ratings[result.ratings["question"] == question]
    for condition, group in rows.groupby("condition", sort=False):
        by = group.set_index("system")
        cells = [
            _interval(*by.loc[system, ["rating", "ci_low", "ci_high"]])
            for system in ("elo", "bradley_terry")
        ]
        n_votes = int(by["n_votes"].iloc[0])
        lines.append(f"  {condition:<16} {cells[0]:>26} {cells[1]:>26} {n_votes:>7}")
    agree = result.agreement[result.agreement["question"] == question]
    if not agree.empty:
        n_items = int(agree["n_items"].iloc[0])
        lines.append(
            f"  agreement ({pct} intervals: bootstrap over {_count(n_items, AGREEMENT_UNIT)}, "
            "raters held fixed):"
        )
        for r in agree.itertuples(index=False):
            lines.append(f"    {r.statistic:<28} {_interval(r.value, r.ci_low, r.ci_high, 3)}")
    lines += [f"  note: {note}" for note in result.notes.get(question, [])]
    return lines


def format_summary(result: RatingsResult, *, level: float, n_boot: int) -> str:
    """Per question: ratings with intervals, agreement, notes; then the anchor caveat."""
    lines: list[str] = []
    for question, notes in result.notes.items():
        if question not in result.intervals:
            lines += [f"{question}: not rated ({'; '.join(notes)})"]
            continue
        lines += _question_block(result, question, level, n_boot)
    lines.append(PAPER_ANCHOR_NOTE)
    return "\n".join(lines)
