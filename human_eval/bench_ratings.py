"""``python -m human_eval.bench_ratings``: how long rating a million votes takes.

Simulates votes between conditions of known strength (Bradley-Terry-Davidson with ties, many
comparisons, each rated several times, by raters who all share one taste), then times exactly
what the ratings CLI does with a votes table: tallies, Elo and Bradley-Terry fits, bootstrap
intervals for both (over raters by default), win-rate matrices and agreement with their
intervals, per question. Prints the time and checks the order.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from human_eval.ratings.bootstrap import BOOTSTRAP_UNITS, DEFAULT_UNIT
from human_eval.ratings.compute import RatingSettings, compute_ratings
from human_eval.ratings.models import ELO_POINTS_PER_NAT


def simulate_votes(
    strengths: np.ndarray,
    n_votes: int,
    *,
    nu: float = 0.5,
    n_items: int = 50_000,
    n_raters: int = 1000,
    n_captions: int = 5000,
    seed: int = 0,
    question: str = "photorealism",
) -> pd.DataFrame:
    """A votes table (as ``tables.votes_frame`` gives it) drawn from the Davidson model.

    ``strengths`` [K] are in Elo points; condition k is named ``c{k}``. Each vote comes from a
    random one of ``n_raters`` raters (``rater_id``); comparison ``i`` shows caption
    ``i % n_captions`` (``caption_id``).
    """
    rng = np.random.default_rng(seed)
    k = len(strengths)
    a = rng.integers(k, size=n_items)
    b = (a + rng.integers(1, k, size=n_items)) % k
    item = rng.integers(n_items, size=n_votes)
    ta, tb = strengths[a[item]] / ELO_POINTS_PER_NAT, strengths[b[item]] / ELO_POINTS_PER_NAT
    pa, pb = np.exp(ta), np.exp(tb)
    pt = nu * np.sqrt(pa * pb)
    u = rng.random(n_votes) * (pa + pb + pt)
    outcome = np.where(u < pa, "a", np.where(u < pa + pb, "b", "tie"))
    names = np.array([f"c{i}" for i in range(k)])
    rater = rng.integers(n_raters, size=n_votes)
    return pd.DataFrame(
        {
            "rater_id": rater,
            "comparison_id": item,
            "caption_id": item % n_captions,
            "question": question,
            "is_gold": False,
            "rater_excluded": False,
            "condition_a": names[a[item]],
            "condition_b": names[b[item]],
            "outcome": outcome,
        }
    )


def conditions_table(k: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "condition": [f"c{i}" for i in range(k)],
            "method": "sim",
            "scale": np.arange(k, dtype=float),
        }
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m human_eval.bench_ratings", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--votes", type=int, default=1_000_000, help="votes (default 1,000,000)")
    p.add_argument("--conditions", type=int, default=12, help="conditions (default 12)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (1000)")
    p.add_argument("--raters", type=int, default=1000, help="raters (default 1000)")
    p.add_argument(
        "--bootstrap-unit",
        choices=BOOTSTRAP_UNITS,
        default=DEFAULT_UNIT,
        help=f"what the bootstrap resamples (default {DEFAULT_UNIT})",
    )
    p.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    args = p.parse_args(argv)
    if args.votes < 1 or args.conditions < 2 or args.bootstrap < 1 or args.raters < 1:
        print(
            "error: --votes >= 1, --conditions >= 2, --bootstrap >= 1 and --raters >= 1",
            file=sys.stderr,
        )
        return 2
    strengths = np.linspace(0.0, 300.0, args.conditions)
    votes = simulate_votes(strengths, args.votes, n_raters=args.raters, seed=args.seed)
    conditions = conditions_table(args.conditions)
    t0 = time.perf_counter()
    result = compute_ratings(
        votes,
        conditions,
        "c0",
        ["photorealism"],
        RatingSettings(n_boot=args.bootstrap, seed=args.seed, unit=args.bootstrap_unit),
    )
    elapsed = time.perf_counter() - t0
    bt = result.ratings[result.ratings["system"] == "bradley_terry"]["rating"].to_numpy()
    order_ok = bool(np.all(np.diff(bt) > 0))
    err = float(np.max(np.abs(bt - strengths)))
    print(
        f"rated {args.votes:,} votes ({args.conditions} conditions; Elo + Bradley-Terry, "
        f"{args.bootstrap} bootstrap replicates each over {args.bootstrap_unit}s, win rates, "
        f"agreement) in {elapsed:.2f} s"
    )
    print(f"Bradley-Terry order recovered: {order_ok}; max |error| {err:.1f} Elo points")
    return 0 if order_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
