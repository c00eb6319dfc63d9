"""``python -m human_eval.ratings``: ratings, win rates, agreement and plots of a study.

Writes into ``--out`` (see CONTRACTS "Ratings output"): ratings.csv, winrate_<question>.csv,
winrates.csv (win rates with intervals), agreement.csv, raters.csv, ratings.json and
plots/rating_vs_scale_<question>.{png,svg}, and prints the ratings table with its anchor and
interval method. All inputs are checked before the folder is created, so a bad argument writes
nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from pathlib import Path

from glide.io import atomic_write_text as write_text
from human_eval.database import db_url_from, open_database, utcnow
from human_eval.errors import HumanEvalError
from human_eval.ratings.bootstrap import BOOTSTRAP_UNITS, DEFAULT_UNIT, INTERVAL_METHOD
from human_eval.ratings.compute import (
    AGREEMENT_UNIT,
    MEAN_ANCHOR,
    RatingSettings,
    compute_ratings,
    is_repeat,
)
from human_eval.ratings.models import DEFAULT_PRIOR_SD
from human_eval.ratings.plots import plot_rating_vs_scale
from human_eval.ratings.summary import PAPER_ANCHOR_NOTE, format_summary
from human_eval.store import load_study
from human_eval.vote_tables import conditions_frame, exclusion_summary, raters_frame, votes_frame

UNIT_TEXT = {
    "rater": "raters: a cluster bootstrap that keeps all the votes of each drawn rater "
    "(votes of one rater share a taste, so they are not independent)",
    "caption": "captions: a cluster bootstrap that keeps all the votes on each drawn caption",
    "vote": "single votes (Chatbot Arena style; assumes independent votes, too narrow when "
    "raters disagree)",
}


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, width=92, initial_indent=indent, subsequent_indent=indent + "  ")


EPILOG = "\n".join(
    [
        "intervals (each row of ratings.csv, winrates.csv and agreement.csv names its unit and "
        "method):",
        "  Elo, Bradley-Terry, win rates  bootstrap over --bootstrap-unit "
        f"(default {DEFAULT_UNIT})",
        f"  agreement (alpha, kappa, %)    bootstrap over items ({AGREEMENT_UNIT}s), raters held "
        "fixed",
        _wrap(
            f"method: {INTERVAL_METHOD}; t(G-1)/z*sqrt(G/(G-1)) is 1.17 for 12 raters and about 1 "
            "for hundreds of units."
        ),
        "anchor:",
        _wrap(
            "ratings are defined up to a shift. --reference names the condition rated 0, or "
            f"--reference mean gives the rated conditions mean 0. {PAPER_ANCHOR_NOTE}"
        ),
    ]
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m human_eval.ratings",
        description="Elo and Bradley-Terry ratings, win-rate matrices and inter-rater agreement, "
        "each with a bootstrap interval, and plots for one study.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--db",
        default=None,
        help="database URL, e.g. sqlite:///votes.db or postgresql+psycopg://user:pw@host/db "
        "(default: the environment variable HUMAN_EVAL_DB)",
    )
    p.add_argument("--study", required=True, help="study name (as given to study create)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument(
        "--reference",
        default=None,
        help="the anchor: the condition rated 0, or 'mean' for ratings with mean 0 (default: "
        "the study's reference, chosen at creation: the unguided model, else the lowest "
        "guidance scale; a condition named 'mean' is that condition)",
    )
    p.add_argument(
        "--bootstrap-unit",
        choices=BOOTSTRAP_UNITS,
        default=DEFAULT_UNIT,
        help="what the Elo, Bradley-Terry and win-rate intervals resample: "
        + "; ".join(f"{unit}: {text}" for unit, text in UNIT_TEXT.items())
        + f" (default {DEFAULT_UNIT})",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        help="bootstrap replicates for the confidence intervals (default 1000)",
    )
    p.add_argument("--ci", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap random seed (default 0)")
    p.add_argument(
        "--prior-sd",
        type=float,
        default=DEFAULT_PRIOR_SD,
        help="sd in Elo points of the weak Gaussian prior that keeps ratings finite (default 2000)",
    )
    p.add_argument(
        "--include-excluded",
        action="store_true",
        help="also use the votes of raters excluded by the admin",
    )
    p.add_argument(
        "--include-flagged",
        action="store_true",
        help="also use the votes of raters flagged by the gold pairs (left out by default: "
        "fewer than the study's --gold-min-accuracy right after --gold-min-answered gold pairs)",
    )
    p.add_argument(
        "--exclude-flagged",
        action="store_true",
        help="the default since flagged raters are left out; kept so old commands still run",
    )
    return p


def run(args: argparse.Namespace) -> tuple[Path, str]:
    if args.bootstrap < 1:
        raise HumanEvalError(f"--bootstrap: {args.bootstrap}; give at least 1 replicate")
    if not 0.0 < args.ci < 1.0:
        raise HumanEvalError(f"--ci: {args.ci}; give a level between 0 and 1, e.g. 0.95")
    if not (args.prior_sd > 0 and math.isfinite(args.prior_sd)):
        raise HumanEvalError(f"--prior-sd: {args.prior_sd}; give a positive number of points")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise HumanEvalError(f"--out: {str(out)!r} exists and is not a folder")
    db = open_database(db_url_from(args.db))
    try:
        study = load_study(db, args.study)
        conditions = conditions_frame(db, study)
        votes = votes_frame(db, study)
        raters = raters_frame(db, study, votes)
    finally:
        db.dispose()
    names = conditions["condition"].tolist()
    reference = args.reference or study.reference
    if reference not in names and reference != MEAN_ANCHOR:
        raise HumanEvalError(
            f"--reference: {reference!r} is not a condition; choose from {names} or {MEAN_ANCHOR!r}"
        )
    if args.include_flagged and args.exclude_flagged:
        raise HumanEvalError("--include-flagged and --exclude-flagged contradict; give one")
    left_out = left_out_raters(raters, args.include_excluded, args.include_flagged)
    raters["left_out"] = left_out
    votes["rater_excluded"] = votes["rater_id"].map(raters.set_index("rater_id")["left_out"])
    votes["rater_excluded"] = votes["rater_excluded"].fillna(False).astype(bool)
    usable = votes[~votes["is_gold"] & ~is_repeat(votes) & ~votes["rater_excluded"]]
    if usable.empty:
        raise HumanEvalError(
            f"--study: study {study.name!r} has no usable votes yet ({len(votes)} votes in all, "
            "gold pairs, repeats and left-out raters not counted); nothing written"
        )
    settings = RatingSettings(
        n_boot=args.bootstrap,
        level=args.ci,
        seed=args.seed,
        prior_sd=args.prior_sd,
        unit=args.bootstrap_unit,
    )
    questions = list(study.config.questions)
    result = compute_ratings(votes, conditions, reference, questions, settings)

    (out / "plots").mkdir(parents=True, exist_ok=True)
    write_text(out / "ratings.csv", result.ratings.to_csv(index=False))
    for question, matrix in result.winrates.items():
        write_text(out / f"winrate_{question}.csv", matrix.to_csv())
    write_text(out / "winrates.csv", result.winrate_intervals.to_csv(index=False))
    write_text(out / "agreement.csv", result.agreement.to_csv(index=False))
    rater_table = raters[
        ["rater", "status", "n_votes", "gold_answered", "gold_accuracy", "flagged", "excluded",
         "left_out"]
    ]  # fmt: skip
    write_text(out / "raters.csv", rater_table.to_csv(index=False))
    for question in result.winrates:
        plot_rating_vs_scale(
            result.ratings,
            question,
            out / "plots" / f"rating_vs_scale_{question}",
            anchor=result.anchor,
            level=args.ci,
        )
    meta = {
        "study": study.name,
        "created_at": utcnow().isoformat(),
        "db": db.display_url,
        "questions": questions,
        "reference": reference,
        "conditions": conditions[["condition", "method", "scale", "run_id"]].to_dict("records"),
        "counts": {
            "votes_total": int(len(votes)),
            "votes_gold": int(votes["is_gold"].sum()),
            "votes_repeat": int(is_repeat(votes).sum()),
            "votes_used": result.votes_used,
            "raters": int(len(raters)),
            "raters_excluded": int(raters["excluded"].sum()),
            "raters_flagged": int(raters["flagged"].sum()),
            "raters_left_out": int(raters["left_out"].sum()),
            "votes_left_out": int(raters.loc[raters["left_out"], "n_votes"].sum()),
        },
        "left_out": left_out_record(study, raters, args),
        "tie_convention": "a 'can't decide' vote is a tie: half a win for each side (Elo); "
        "Bradley-Terry models ties explicitly (Davidson 1970, tie parameter nu)",
        "anchor": {
            "choice": "mean" if reference not in names else "condition",
            "condition": reference if reference in names else None,
            "text": result.anchor,
            "note": PAPER_ANCHOR_NOTE,
        },
        "elo": {
            "fit": "maximum likelihood",
            "points_per_factor_10_odds": 400,
            "base": 10,
            "reference": reference,
            "anchor": result.anchor,
            "prior_sd_points": args.prior_sd,
        },
        "bradley_terry": {
            "model": "Davidson (1970) with ties",
            "scale": "Elo points (400 / ln 10 per unit of log-strength)",
            "tie_parameter_nu": result.tie_parameter,
        },
        "bootstrap": {
            "replicates": args.bootstrap,
            "level": args.ci,
            "seed": args.seed,
            "unit": args.bootstrap_unit,
            "method": f"resampling {UNIT_TEXT[args.bootstrap_unit]}; {INTERVAL_METHOD}",
        },
        "intervals": interval_meta(result, args),
        "include_excluded": bool(args.include_excluded),
        "include_flagged": bool(args.include_flagged),
        "notes": result.notes,
        "study_config": study.config.to_json(),
    }
    write_text(out / "ratings.json", json.dumps(meta, indent=2, default=str) + "\n")
    summary = format_summary(result, level=args.ci, n_boot=args.bootstrap)
    return out, summary + "\n" + left_out_line(meta["left_out"])


def left_out_raters(raters, include_excluded: bool, include_flagged: bool):  # noqa: ANN001
    """Which raters' votes stay out of the ratings: excluded by the admin (unless
    ``include_excluded``) or flagged by the gold pairs (unless ``include_flagged``)."""
    excluded = raters["excluded"] & (not include_excluded)
    flagged = raters["flagged"] & (not include_flagged)
    return (excluded | flagged).astype(bool)


def left_out_record(study, raters, args: argparse.Namespace) -> dict:  # noqa: ANN001
    """For ratings.json: who is left out and why, with the study's flagging rule."""
    summary = exclusion_summary(study, raters)
    out = raters[raters["left_out"]]
    return {
        "rule": summary["rule"],
        "raters": int(len(raters)),
        "raters_left_out": int(len(out)),
        "votes_left_out": int(out["n_votes"].sum()),
        "excluded_by_admin": sorted(out.loc[out["excluded"], "rater"].astype(str)),
        "flagged_by_gold_pairs": sorted(
            out.loc[out["flagged"] & ~out["excluded"], "rater"].astype(str)
        ),  # fmt: skip
        "include_excluded": bool(args.include_excluded),
        "include_flagged": bool(args.include_flagged),
    }


def left_out_line(record: dict) -> str:
    """The CLI's one-line account of the raters left out."""
    keep = []
    if not record["include_flagged"]:
        keep.append("--include-flagged keeps flagged raters")
    if not record["include_excluded"]:
        keep.append("--include-excluded keeps excluded ones")
    return (
        f"left out: {record['raters_left_out']} of {record['raters']} raters "
        f"({record['votes_left_out']} votes): {len(record['excluded_by_admin'])} excluded by "
        f"the admin, {len(record['flagged_by_gold_pairs'])} flagged by the gold pairs "
        f"({record['rule']})" + (f"; {', '.join(keep)}" if keep else "")
    )


def interval_meta(result, args: argparse.Namespace) -> dict:  # noqa: ANN001
    """What every interval in the outputs resamples, and how, per question."""
    common = {"replicates": args.bootstrap, "level": args.ci, "seed": args.seed}
    return {
        "ratings_and_win_rates": {
            **common,
            "unit": args.bootstrap_unit,
            "resampling": UNIT_TEXT[args.bootstrap_unit],
            "method": INTERVAL_METHOD,
            "per_question": result.intervals,
            "files": ["ratings.csv", "winrates.csv"],
        },
        "agreement": {
            **common,
            "unit": AGREEMENT_UNIT,
            "resampling": "items (comparisons) with all their votes, raters held fixed "
            "(Hayes & Krippendorff 2007)",
            "method": INTERVAL_METHOD,
            "files": ["agreement.csv"],
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        out, summary = run(args)
    except HumanEvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary)
    print(f"ratings written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
