"""Plot: rating against guidance scale, one line per method, with bootstrap intervals."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from glide.io import atomic_path  # noqa: E402
from human_eval.schema import QUESTION_TEXT  # noqa: E402


def _yerr(rows):  # noqa: ANN001, ANN202
    """Bar lengths below and above each rating. A percentile interval from few clusters need
    not contain the point estimate (it is centred on the bootstrap median); the bar then
    stops at the point on that side instead of failing the plot."""
    return [
        (rows["rating"] - rows["ci_low"]).clip(lower=0),
        (rows["ci_high"] - rows["rating"]).clip(lower=0),
    ]


def plot_rating_vs_scale(
    ratings: pd.DataFrame,
    question: str,
    out_stem: Path,
    *,
    anchor: str = "reference = 0",
    level: float = 0.95,
) -> list[Path]:
    """Write ``<out_stem>.png`` and ``.svg`` for one question; returns the paths.

    ``anchor`` names what is 0 (e.g. "cfg@1 = 0"); ``level`` labels the intervals.
    """
    ci = f"{100 * level:g}% CI"
    unit = ratings["interval_unit"].iloc[0] if "interval_unit" in ratings and len(ratings) else ""
    if unit:
        ci += f" over {unit}s"
    df = ratings[ratings["question"] == question]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    elo = df[df["system"] == "elo"]
    bt = df[df["system"] == "bradley_terry"]
    scales = df["scale"].dropna()
    # the two models' bars side by side, not on top of each other: Elo left, BT right
    shift = 0.015 * (float(scales.max() - scales.min()) or 1.0) if len(scales) else 0.0
    for k, (method, group) in enumerate(elo[elo["scale"].notna()].groupby("method", sort=True)):
        group = group.sort_values("scale")
        color = f"C{k}"
        yerr = _yerr(group)
        ax.errorbar(
            group["scale"] - shift,
            group["rating"],
            yerr=yerr,
            marker="o",
            capsize=3,
            color=color,
            label=f"{method} (Elo, {ci})",
        )
        other = bt[(bt["method"] == method) & bt["scale"].notna()].sort_values("scale")
        ax.errorbar(
            other["scale"] + shift,
            other["rating"],
            yerr=_yerr(other),
            linestyle="--",
            marker="x",
            capsize=2,
            color=color,
            alpha=0.7,
            label=f"{method} (Bradley-Terry, {ci})",
        )
    for k, (_, row) in enumerate(elo[elo["scale"].isna()].iterrows()):
        ax.axhline(row["rating"], linestyle=":", color=f"C{k + 5}", label=row["condition"])
    ax.axhline(0.0, color="0.7", linewidth=0.8)
    ax.set_xlabel("guidance scale")
    ax.set_ylabel(f"rating (Elo points, {anchor})")
    ax.set_title(QUESTION_TEXT.get(question, question), fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths = []
    for ext in ("png", "svg"):
        path = out_stem.with_suffix(f".{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150)
        paths.append(path)
    plt.close(fig)
    return paths
