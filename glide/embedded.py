"""Where the shipped default GLIDE weights live (``glide/assets/embedded``).

The embedded default is the official architecture at small widths, trained on the synthetic
captioned dataset by the recipes in ``glide/train``; its sizes are in ``glide_options.json``
beside the weights. It lets every command run without downloading the official checkpoints.
"""

from __future__ import annotations

from pathlib import Path

from glide.errors import GlideError

__all__ = ["EMBEDDED_DIR", "embedded_checkpoints_dir", "embedded_files"]

EMBEDDED_DIR = Path(__file__).resolve().parent / "assets" / "embedded"
_REQUIRED = ("glide_options.json", "base.pt")


def embedded_files() -> dict[str, bool]:
    """Expected files of the embedded default and whether each is present."""
    names = (
        "base.pt", "base_inpaint.pt", "upsample.pt", "clip_image_enc.pt", "clip_text_enc.pt",
        "glide_options.json", "MODEL_CARD.md",
    )  # fmt: skip
    return {name: (EMBEDDED_DIR / name).is_file() for name in names}


def embedded_checkpoints_dir() -> Path:
    """The embedded default's checkpoints directory; a GlideError if its weights are missing."""
    missing = [name for name in _REQUIRED if not (EMBEDDED_DIR / name).is_file()]
    if missing:
        raise GlideError(
            f"the embedded default GLIDE weights are not installed ({', '.join(missing)} missing "
            f"in {EMBEDDED_DIR}); pass checkpoints_dir= / --checkpoints DIR with a folder "
            "holding base.pt (and upsample.pt, base_inpaint.pt, clip_image_enc.pt, "
            "clip_text_enc.pt as needed, plus glide_options.json for non-official sizes), or "
            "--checkpoints official to download OpenAI's released checkpoints"
        )
    return EMBEDDED_DIR
