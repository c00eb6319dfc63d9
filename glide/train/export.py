"""Writing trained weights in the official checkpoint layout, plus ``glide_options.json``.

The files are exactly what :func:`glide.checkpoints.load_checkpoint` / ``load_clip`` read: a
plain state dict per network, named as the official release names them (``base.pt``,
``base_inpaint.pt``, ``upsample.pt``, ``clip_image_enc.pt``, ``clip_text_enc.pt``), and an entry
per checkpoint name in the folder's ``glide_options.json`` (merged with the entries there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from glide.errors import GlideError

__all__ = ["EXPORT_DTYPES", "export_weights"]

EXPORT_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def export_weights(
    folder: Path,
    networks: dict[str, nn.Module],
    options: dict[str, dict[str, Any]],
    *,
    dtype: str = "float32",
) -> list[Path]:
    """Save each ``name -> module`` under the official file name of ``name`` with
    :func:`glide.checkpoints.save_checkpoint`, then record ``options[name]`` in
    ``glide_options.json``. ``dtype="float16"`` halves the files (loading casts back)."""
    from glide.checkpoints import CHECKPOINTS, save_checkpoint, write_options_file

    if dtype not in EXPORT_DTYPES:
        raise GlideError(f"--export-dtype {dtype!r} is unknown; choose {sorted(EXPORT_DTYPES)}")
    folder = Path(folder)
    files = []
    for name, module in networks.items():
        if name not in CHECKPOINTS:
            raise GlideError(f"checkpoint name {name!r} is unknown; one of {sorted(CHECKPOINTS)}")
        path = folder / CHECKPOINTS[name].filename
        save_checkpoint(module, path, dtype=None if dtype == "float32" else EXPORT_DTYPES[dtype])
        files.append(path)
    files.append(write_options_file(folder, {name: options[name] for name in networks}))
    return files
