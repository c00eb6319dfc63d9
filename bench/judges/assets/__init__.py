"""Package data: weights, configs and model cards of the embedded evaluation networks."""
