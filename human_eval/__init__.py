"""human_eval: pairwise human preference studies (photorealism, caption match) and ratings."""
