"""Figures for the report: Pareto plots, rating plots and sample grids, as PNG bytes.

The sweep's own PNGs are used when present; otherwise the plots are drawn here from the tables
(with matplotlib's Agg backend) and the figure says so. Sample grids are built from the run
folders (the same caption rows for every method and scale), so captions stay real text in both
formats; the sweep's ``grids/<method>.png`` is the fallback when run images are absent.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
from pathlib import Path

import pandas as pd
from PIL import Image

from reports.blocks import Figure, GridRow, ImageGrid, Paragraph
from reports.findings import PLOTS, PlotAxes
from reports.inputs import RatingsInputs, SweepInputs
from reports.numbers import missing_text, scale_text
from reports.results_view import ResultsView, method_name

#: Samples are shown at least this many pixels wide (64x64 samples are doubled, pixelated).
MIN_CELL_PX = 96


def png_figure(data: bytes, caption: str, source: str, fraction: float = 1.0) -> Figure:
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    return Figure(data, caption, width, height, source, fraction)


def _as_png(path: Path) -> bytes:
    """File bytes if already PNG, else re-encoded as PNG (data URIs and PDFs get PNG)."""
    data = path.read_bytes()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return data
    with Image.open(io.BytesIO(data)) as img:
        buffer = io.BytesIO()
        img.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _draw_pareto(table: pd.DataFrame, plot: PlotAxes) -> bytes | None:
    from bench.plots import PlotSpec, plot_pareto

    with tempfile.TemporaryDirectory() as tmp:
        written = plot_pareto(table, PlotSpec(plot.name, plot.x, plot.y, plot.title), Path(tmp))
        png = next((p for p in written if p.suffix == ".png"), None)
        return png.read_bytes() if png else None


def pareto_blocks(inputs: SweepInputs, view: ResultsView) -> list[Figure | Paragraph]:
    """One figure (or the reason it is missing) per Pareto plot."""
    return list(pareto_figures(inputs, view).values())


def pareto_figures(inputs: SweepInputs, view: ResultsView) -> dict[str, Figure | Paragraph]:
    """Plot name -> its figure, or the paragraph saying why it is missing (PLOTS order)."""
    blocks: dict[str, Figure | Paragraph] = {}
    methods = " and ".join(method_name(m) for m in view.methods) or "no method"
    if view.real is not None:
        floor = "the black star is the real-images floor (not a run, never on the front)"
    else:
        floor = "no real-images floor was measured"
    for plot in PLOTS:
        caption = (
            f"{plot.title}: {methods}, points labelled with the guidance scale; ringed points "
            f"are on the joint Pareto front; {floor}."
        )
        if plot.name in inputs.plots:
            png = _as_png(inputs.plots[plot.name])
            blocks[plot.name] = png_figure(png, caption, f"plots/{plot.name}.png of the sweep")
            continue
        absent = [m for m in (plot.x, plot.y) if not view.computed(m)]
        if absent:
            notes = []
            for name in absent:
                info = view.metric(name)
                note = next((view.get(r, name).notes for r in view.runs), "") if view.runs else ""
                display = info.display_name if info else name
                notes.append(f"{display} {missing_text(note or 'no value in the results table')}")
            text = f"{plot.title}: not drawn: {'; '.join(notes)}."
            blocks[plot.name] = Paragraph(text, "missing")
            continue
        png = _draw_pareto(inputs.results, plot)
        if png is None:
            text = f"{plot.title}: not drawn: no run has both values."
            blocks[plot.name] = Paragraph(text, "missing")
        else:
            source = "drawn for this report from the results table; the sweep has no PNG"
            blocks[plot.name] = png_figure(png, caption, source)
    return blocks


def _cell_png(path: Path) -> bytes:
    """A sample as PNG, enlarged (nearest neighbour) when smaller than MIN_CELL_PX."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        if img.width < MIN_CELL_PX:
            factor = -(-MIN_CELL_PX // img.width)
            img = img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)
        buffer = io.BytesIO()
        img.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def grid_blocks(inputs: SweepInputs, rows: int) -> list[ImageGrid | Figure | Paragraph]:
    """Per method, a grid of the same caption rows (shared by all methods) across its scales.
    The real-images run (its own captions) is no column of any grid."""
    from bench.plots import REAL_METHOD

    inputs = dataclasses.replace(
        inputs, runs=tuple(r for r in inputs.runs if r.method != REAL_METHOD)
    )
    methods = sorted({r.method for r in inputs.runs} | set(inputs.grids))
    if not methods:
        return [
            Paragraph("No sample grids: the sweep has no run folders and no grids/.", "missing")
        ]
    started = [r for r in inputs.runs if r.samples]
    shared = sorted(set.intersection(*(set(r.samples) for r in started)))[:rows] if started else []
    blocks: list[ImageGrid | Figure | Paragraph] = []
    for method in methods:
        mine = [r for r in inputs.runs if r.method == method]
        indices, note = (shared if mine else []), ""
        if not indices:
            own = [r for r in mine if r.samples]
            indices = sorted(set.intersection(*(set(r.samples) for r in own)))[:rows] if own else []
            note = " No sample index is finished in every run, so rows differ between methods."
        if not indices:
            if method in inputs.grids:
                png = _as_png(inputs.grids[method])
                caption = f"Sample grid, {method_name(method)}"
                blocks.append(png_figure(png, caption, f"grids/{inputs.grids[method].name}"))
            else:
                text = f"{method_name(method)}: no finished samples to show."
                blocks.append(Paragraph(text, "missing"))
            continue
        grid_rows = []
        for index in indices:
            record = next(r.samples[index] for r in mine if index in r.samples)
            images = tuple(
                _cell_png(r.path / r.samples[index]["file"]) if index in r.samples else None
                for r in mine
            )
            grid_rows.append(GridRow(str(record.get("caption", f"caption #{index}")), images))
        note = (
            "Each row is one caption with the same starting noise in every column; only the "
            "guidance scale changes." + note
        )
        columns = tuple(f"scale {scale_text(r.scale)}" for r in mine)
        title = f"{method_name(method)} ({method})"
        blocks.append(ImageGrid(title, columns, tuple(grid_rows), note))
    return blocks


def _draw_rating_plot(ratings: pd.DataFrame, question: str, anchor: str | None = None) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    rows = ratings[(ratings["question"] == question) & (ratings["system"] == "elo")]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=150)
    for k, (method, group) in enumerate(rows[rows["scale"].notna()].groupby("method", sort=True)):
        group = group.sort_values("scale")
        low = (group["rating"] - group["ci_low"]).clip(lower=0).fillna(0)
        high = (group["ci_high"] - group["rating"]).clip(lower=0).fillna(0)
        ax.errorbar(
            group["scale"],
            group["rating"],
            yerr=[low, high],
            marker="o",
            capsize=3,
            color=f"C{k}",
            label=f"{method_name(str(method))} (Elo, interval)",
        )
    for k, row in enumerate(rows[rows["scale"].isna()].itertuples(index=False)):
        ax.axhline(row.rating, linestyle=":", color=f"C{k + 5}", label=str(row.condition))
    ax.axhline(0.0, color="0.7", linewidth=0.8)
    ax.set_xlabel("guidance scale")
    ax.set_ylabel(f"Elo rating (anchor: {anchor})" if anchor else "Elo rating (anchor = 0)")
    ax.set_title(f"Rating vs guidance scale: {question}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def rating_figure(inputs: RatingsInputs, question: str) -> Figure:
    caption = f"Elo rating vs guidance scale, {question}; bars: the intervals of ratings.csv."
    if question in inputs.plots:
        png = _as_png(inputs.plots[question])
        source = f"plots/rating_vs_scale_{question}.png of the ratings"
        return png_figure(png, caption, source, fraction=0.66)
    anchor = (inputs.meta.get("anchor") or {}).get("text")
    png = _draw_rating_plot(inputs.ratings, question, anchor)
    return png_figure(png, caption, "drawn for this report from ratings.csv", fraction=0.66)


def human_vs_metric_figure(ratings: pd.DataFrame, view: ResultsView) -> Figure | None:
    """Per question, the Elo rating against the guidance scale beside the automated metric that
    should track it (photorealism / FID, caption / caption match or CLIP score); None when no
    question has such a metric. FID's axis is inverted so that up is better in both panels."""
    from reports.findings import paired_metric

    questions = [
        (q, m)
        for q in dict.fromkeys(ratings["question"].astype(str))
        if (m := paired_metric(view, q)) is not None
    ]
    if not questions:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from bench.plots import method_styles

    styles = method_styles(list(view.methods))
    fig, axes = plt.subplots(
        len(questions), 2, figsize=(9.6, 3.4 * len(questions)), dpi=130, squeeze=False
    )
    for (question, metric), (left, right) in zip(questions, axes, strict=True):
        rows = ratings[(ratings["question"] == question) & (ratings["system"] == "elo")]
        for method, group in rows[rows["scale"].notna()].groupby("method", sort=True):
            color, marker, name = styles.get(str(method), ("tab:gray", "^", str(method)))
            group = group.sort_values("scale")
            low = (group["rating"] - group["ci_low"]).clip(lower=0).fillna(0)
            high = (group["ci_high"] - group["rating"]).clip(lower=0).fillna(0)
            left.errorbar(
                group["scale"], group["rating"], yerr=[low, high], color=color, marker=marker,
                capsize=3, label=name,
            )  # fmt: skip
        left.set_title(f"Humans: {question} (Elo)", fontsize=10)
        left.set_xlabel("guidance scale")
        left.set_ylabel("Elo rating (higher is better)")
        for method in view.methods:
            series = [(s, e) for s, e in view.series(method, metric.name) if e.ok]
            if not series:
                continue
            color, marker, name = styles[method]
            xs = [s for s, _ in series]
            ys = [e.value for _, e in series]
            lo = [max(e.value - e.low, 0) if e.low == e.low else 0 for _, e in series]
            hi = [max(e.high - e.value, 0) if e.high == e.high else 0 for _, e in series]
            right.errorbar(xs, ys, yerr=[lo, hi], color=color, marker=marker, capsize=3, label=name)
        floor = view.floor(metric.name)
        if floor is not None and floor.ok:
            right.axhline(floor.value, color="black", linestyle=":", label="real images (floor)")
        if metric.lower_is_better:
            right.invert_yaxis()
        axis_note = ", axis inverted: up is better" if metric.lower_is_better else ""
        right.set_title(f"Automated: {metric.display_name}", fontsize=10)
        right.set_xlabel("guidance scale")
        right.set_ylabel(f"{metric.display_name} ({metric.direction}{axis_note})", fontsize=8)
        for ax in (left, right):
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    pairs = "; ".join(f"{q} vs {m.display_name}" for q, m in questions)
    caption = (
        f"Human ratings beside the automated metric that should track them ({pairs}); bars: "
        "intervals of ratings.csv and of the results table. Up is better in every panel."
    )
    return png_figure(buffer.getvalue(), caption, "drawn for this report from both tables")
