"""``python -m human_eval.bench_ratings``: how long rating a million votes takes.

Simulates votes between conditions of known strength (Bradley-Terry-Davidson with ties, as
many comparisons as raters, each rated several times), then times exactly what the ratings CLI
does with a votes table: tallies, Elo and Bradley-Terry fits, bootstrap intervals for both,
win-rate matrices and agreement, per question. Prints the time and checks the order.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from human_eval.ratings.compute import RatingSettings, compute_ratings
from human_eval.ratings.models import ELO_POINTS_PER_NAT


def simulate_votes(
    strengths: np.ndarray,
    n_votes: int,
    *,
    nu: float = 0.5,
    n_items: int = 50_000,
    seed: int = 0,
    question: str = "photorealism",
) -> pd.DataFrame:
    """A votes table (as ``tables.votes_frame`` gives it) drawn from the Davidson model.

    ``strengths`` [K] are in Elo points; condition k is named ``c{k}``.
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
    return pd.DataFrame(
        {
            "comparison_id": item,
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
    p.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    args = p.parse_args(argv)
    if args.votes < 1 or args.conditions < 2 or args.bootstrap < 1:
        print("error: --votes >= 1, --conditions >= 2 and --bootstrap >= 1", file=sys.stderr)
        return 2
    strengths = np.linspace(0.0, 300.0, args.conditions)
    votes = simulate_votes(strengths, args.votes, seed=args.seed)
    conditions = conditions_table(args.conditions)
    t0 = time.perf_counter()
    result = compute_ratings(
        votes,
        conditions,
        "c0",
        ["photorealism"],
        RatingSettings(n_boot=args.bootstrap, seed=args.seed),
    )
    elapsed = time.perf_counter() - t0
    bt = result.ratings[result.ratings["system"] == "bradley_terry"]["rating"].to_numpy()
    order_ok = bool(np.all(np.diff(bt) > 0))
    err = float(np.max(np.abs(bt - strengths)))
    print(
        f"rated {args.votes:,} votes ({args.conditions} conditions; Elo + Bradley-Terry, "
        f"{args.bootstrap} bootstrap replicates each, win rates, agreement) in {elapsed:.2f} s"
    )
    print(f"Bradley-Terry order recovered: {order_ok}; max |error| {err:.1f} Elo points")
    return 0 if order_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
