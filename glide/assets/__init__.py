"""Package data of glide (shipped weights); no code."""
