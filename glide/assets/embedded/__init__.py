"""The embedded default GLIDE weights (see MODEL_CARD.md); no code. Located by glide.embedded."""
