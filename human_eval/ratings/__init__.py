"""Ratings of pairwise votes: Elo and Bradley-Terry MLE, agreement, and bootstrap intervals
(over raters by default; captions or single votes as options) for all of them.

``python -m human_eval.ratings --db URL --study NAME --out DIR`` writes the tables and plots.
"""

from human_eval.ratings.agreement import fleiss_kappa, krippendorff_alpha
from human_eval.ratings.bootstrap import bootstrap_ratings
from human_eval.ratings.models import (
    anchor_scores,
    davidson_mle,
    elo_mle,
    online_elo,
    tally,
    win_rate_matrix,
)

__all__ = [
    "anchor_scores",
    "bootstrap_ratings",
    "davidson_mle",
    "elo_mle",
    "fleiss_kappa",
    "krippendorff_alpha",
    "online_elo",
    "tally",
    "win_rate_matrix",
]
