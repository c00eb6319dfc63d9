"""The synthetic captioned dataset of the embedded default (see glide.data.synthetic)."""
