"""Package data: the GPT-2 and CLIP BPE vocabularies (see README.md and LICENSE here)."""
