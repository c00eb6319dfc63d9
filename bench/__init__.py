"""bench: guidance-scale sweeps, metrics and Pareto frontiers for GLIDE."""
