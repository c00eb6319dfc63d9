"""Ratings of pairwise votes: Elo and Bradley-Terry MLE, bootstrap intervals, agreement.

``python -m human_eval.ratings --db URL --study NAME --out DIR`` writes the tables and plots.
"""

from human_eval.ratings.agreement import fleiss_kappa, krippendorff_alpha
from human_eval.ratings.bootstrap import bootstrap_ratings
from human_eval.ratings.models import davidson_mle, elo_mle, online_elo, tally, win_rate_matrix

__all__ = [
    "bootstrap_ratings",
    "davidson_mle",
    "elo_mle",
    "fleiss_kappa",
    "krippendorff_alpha",
    "online_elo",
    "tally",
    "win_rate_matrix",
]
