"""The human-evaluation section, from the ratings folder of ``python -m human_eval.ratings``."""

from __future__ import annotations

import pandas as pd

from reports.blocks import Block, Cell, Heading, KeyValues, Paragraph, Section, Table
from reports.blocks import label_cell as L
from reports.figures import human_vs_metric_figure, rating_figure
from reports.inputs import RatingsInputs
from reports.numbers import decimals_for, fmt, interval_text, is_number, scale_text
from reports.results_view import ResultsView

QUESTION_TEXT = {
    "photorealism": "Which image is more photorealistic?",
    "caption": "Which image better matches the caption?",
}
SYSTEMS = (("elo", "Elo"), ("bradley_terry", "Bradley-Terry"))
AGREEMENT_NAMES = {
    "krippendorff_alpha_nominal": "Krippendorff's alpha (nominal)",
    "krippendorff_alpha_interval": "Krippendorff's alpha (interval, b < tie < a)",
    "fleiss_kappa": "Fleiss' kappa",
    "percent_agreement": "percent agreement",
}


def _question_notes(inputs: RatingsInputs, question: str) -> list[str]:
    notes = (inputs.meta.get("notes") or {}).get(question) or []
    return [str(n) for n in notes] if isinstance(notes, list) else [str(notes)]


def ratings_table(inputs: RatingsInputs, question: str) -> Table:
    rows_q = inputs.ratings[inputs.ratings["question"] == question]
    conditions = list(dict.fromkeys(rows_q["condition"]))
    by = {(r.condition, r.system): r for r in rows_q.itertuples(index=False)}
    d = decimals_for(rows_q["rating"], significant=3)
    why = "; ".join(_question_notes(inputs, question)) or "no rating in ratings.csv"
    best = {}
    for system, _ in SYSTEMS:
        rated = rows_q[(rows_q["system"] == system) & rows_q["rating"].map(is_number)]
        best[system] = set(rated.loc[rated["rating"] == rated["rating"].max(), "condition"])
    rows = []
    for condition in conditions:
        first = next(r for (c, _), r in by.items() if c == condition)
        cells = [L(condition), L(str(first.method)), Cell(scale_text(first.scale))]
        for system, _ in SYSTEMS:
            r = by.get((condition, system))
            if r is None or not is_number(r.rating):
                cells.append(Cell(f"not computed: {why}", missing=True, align="left"))
            else:
                cells.append(
                    Cell(
                        fmt(r.rating, d),
                        interval_text(r.ci_low, r.ci_high, d),
                        best=condition in best[system],
                    )
                )
        cells.append(Cell(str(int(first.n_votes)) if is_number(first.n_votes) else "?"))
        rows.append(tuple(cells))
    header = ("condition", "method", "scale", "Elo ↑", "Bradley-Terry ↑", "votes")
    return Table(header, tuple(rows), widths=(2.2, 1.3, 0.9, 2.6, 2.6, 1.0))


def winrate_table(matrix: pd.DataFrame) -> Table:
    names = [str(c) for c in matrix.columns]
    rows = []
    for row_name, values in matrix.iterrows():
        cells = [L(str(row_name))]
        for col_name in names:
            value = values[col_name]
            if str(row_name) == col_name:
                cells.append(Cell("·", align="center"))
            elif is_number(value):
                cells.append(Cell(f"{100 * value:.0f}%", shade=float(value)))
            else:
                cells.append(Cell("no votes", missing=True))
        rows.append(tuple(cells))
    return Table(("row beats column", *names), tuple(rows), widths=(2.0, *(1.0 for _ in names)))


def agreement_table(agreement: pd.DataFrame, question: str) -> Table | Paragraph:
    rows_q = agreement[agreement["question"] == question]
    if rows_q.empty:
        return Paragraph("Rater agreement: no rows for this question in agreement.csv.", "missing")
    rows = []
    for r in rows_q.itertuples(index=False):
        low, high = getattr(r, "ci_low", None), getattr(r, "ci_high", None)
        value = (
            Cell(f"{r.value:.3f}", interval_text(low, high, 3) if is_number(low) else "")
            if is_number(r.value)
            else Cell("undefined: no item rated twice, or one answer only", missing=True)
        )
        rows.append(
            (L(AGREEMENT_NAMES.get(r.statistic, str(r.statistic))), value, Cell(str(r.n_items)))
        )
    return Table(
        ("statistic", "value", "items rated twice or more"), tuple(rows), widths=(4.0, 3.0, 2.0)
    )


def _anchor(meta: dict) -> str:
    """What is rated 0: ratings.json's anchor text, else (older folders) the reference."""
    anchor = meta.get("anchor") or {}
    if anchor.get("text"):
        return f"{anchor['text']}. {anchor.get('note', '')}".strip()
    return str(meta.get("reference", "not recorded"))


def _anchor_short(meta: dict) -> str:
    return str((meta.get("anchor") or {}).get("text") or f"{meta.get('reference', '?')} = 0")


def _overview(inputs: RatingsInputs) -> list[Block]:
    meta = inputs.meta
    counts = meta.get("counts") or {}
    used = counts.get("votes_used") or {}
    rows = [
        ("Study", str(meta.get("study", "not recorded"))),
        ("Ratings computed", str(meta.get("created_at", "not recorded"))),
        ("Vote database", str(meta.get("db", "not recorded"))),
        ("Anchor (rated 0)", _anchor(meta)),
        (
            "Votes",
            f"{counts.get('votes_total', '?')} in all, {counts.get('votes_gold', '?')} on "
            "gold pairs (never rated); used per question: "
            + (", ".join(f"{q} {n}" for q, n in used.items()) or "?"),
        ),
        (
            "Raters",
            f"{counts.get('raters', '?')}; excluded {counts.get('raters_excluded', '?')}; "
            f"flagged by gold pairs {counts.get('raters_flagged', '?')}; left out of the "
            f"ratings {counts.get('raters_left_out', '?')} "
            f"({counts.get('votes_left_out', '?')} votes)",
        ),
        ("Ties", str(meta.get("tie_convention", "not recorded"))),
    ]
    boot = meta.get("bootstrap") or {}
    if boot:
        rows.append(
            (
                "Intervals",
                f"{boot.get('level', '?')} level, {boot.get('replicates', '?')} "
                f"bootstrap replicates ({boot.get('method', '')}), seed {boot.get('seed', '?')}",
            )
        )
    return [KeyValues(tuple(rows), mono=frozenset({"Vote database"}))]


def _flag(value) -> bool:  # noqa: ANN001
    return str(value).strip().lower() in ("true", "1")


def _raters(inputs: RatingsInputs) -> list[Block]:
    blocks: list[Block] = [Heading("Raters left out")]
    if inputs.raters is None:
        return blocks + [Paragraph("raters.csv is absent: exclusions unknown.", "missing")]
    raters = inputs.raters
    column = "left_out" if "left_out" in raters.columns else "excluded"  # older raters.csv
    out = raters[raters[column].map(_flag)]
    rule = (inputs.meta.get("left_out") or {}).get("rule")
    blocks.append(
        Paragraph(
            f"{len(raters)} raters, {len(out)} left out of every number above: excluded by the "
            "admin, or flagged by the gold pairs"
            + (f" ({rule})" if rule else "")
            + ". Flagged raters count only with --include-flagged, excluded ones only with "
            "--include-excluded.",
            "note",
        )
    )
    if out.empty:
        return blocks + [Paragraph("No rater was left out.")]

    def why(r) -> str:  # noqa: ANN001
        if _flag(getattr(r, "excluded", False)):
            return "excluded by the admin"
        return "flagged by the gold pairs" if _flag(getattr(r, "flagged", False)) else "?"

    rows = tuple(
        (
            L(str(r.rater)),
            L(why(r)),
            Cell(str(r.n_votes)),
            Cell(f"{100 * r.gold_accuracy:.0f}%")
            if is_number(r.gold_accuracy)
            else Cell("no gold votes", missing=True),
        )
        for r in out.itertuples(index=False)
    )
    return blocks + [
        Table(("rater", "why", "votes", "gold accuracy"), rows, widths=(3.5, 3.0, 1.2, 1.8))
    ]


def human_section(inputs: RatingsInputs, view: ResultsView | None = None) -> Section:
    blocks: list[Block] = [*_overview(inputs)]
    if view is not None:
        figure = human_vs_metric_figure(inputs.ratings, view)
        blocks.append(Heading("Humans and automated metrics side by side"))
        if figure is not None:
            blocks.append(figure)
        else:
            blocks.append(
                Paragraph(
                    "Not drawn: no rated question has its automated counterpart computed "
                    "(photorealism needs FID; caption needs caption match or CLIP score).",
                    "missing",
                )
            )
    questions = list(dict.fromkeys(inputs.ratings["question"].astype(str)))
    for question in list(inputs.winrates) + list(inputs.meta.get("notes") or {}):
        if question not in questions:
            questions.append(question)
    for question in questions:
        blocks.append(Heading(f"{question}: {QUESTION_TEXT.get(question, '')}".rstrip(": ")))
        if not (inputs.ratings["question"] == question).any():
            why = "; ".join(_question_notes(inputs, question)) or "no rows in ratings.csv"
            blocks.append(Paragraph(f"Ratings not computed: {why}.", "missing"))
            continue
        blocks.append(
            Paragraph(
                f"Ratings per condition (Elo points; anchor: {_anchor_short(inputs.meta)}) with "
                "their intervals; ▲ marks the highest rating.",
                "note",
            )
        )
        blocks.append(ratings_table(inputs, question))
        for note in _question_notes(inputs, question):
            blocks.append(Paragraph(note, "missing"))
        blocks.append(rating_figure(inputs, question))
        if question in inputs.winrates:
            blocks.append(
                Paragraph(
                    "Win rates: the share of the row condition's comparisons "
                    "against the column condition that it won (ties count "
                    "half).",
                    "note",
                )
            )
            blocks.append(winrate_table(inputs.winrates[question]))
        else:
            blocks.append(
                Paragraph(f"Win-rate matrix: winrate_{question}.csv is absent.", "missing")
            )
        if inputs.agreement is not None:
            how = (
                " (intervals: bootstrap over comparisons, raters held fixed)"
                if "ci_low" in inputs.agreement.columns
                else ""
            )
            blocks.append(
                Paragraph(f"Rater agreement on comparisons rated more than once{how}:", "note")
            )
            blocks.append(agreement_table(inputs.agreement, question))
        else:
            blocks.append(Paragraph("Rater agreement: agreement.csv is absent.", "missing"))
    blocks += _raters(inputs)
    return Section("human", "Human evaluation", tuple(blocks))
