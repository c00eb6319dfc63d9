"""Sample grids: the same captions (rows) across guidance scales (columns), one per method.

Because every scale starts from the same per-sample noise, a row shows what the guidance scale
alone does to one sample. Rows are the first captions of the seeded subset; the same rows are
used for every method, so the grids of the two methods compare directly.
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bench.plots import series_method
from bench.runfolder import RunFolder
from bench.spec import format_interval, format_scale
from glide.io import atomic_write_bytes

_PAD = 4
_TEXT_W = 220
_HEADER = 22


def _font() -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=12)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def make_grid(folders: Sequence[RunFolder], rows: int, out_path: Path) -> Path | None:
    """Grid of the first ``rows`` images of each run in ``folders`` (one method, by scale)."""
    folders = sorted(folders, key=lambda f: f.spec.scale)
    if not folders:
        return None
    manifests = [f.read_manifest() for f in folders]
    indices = sorted(set.intersection(*(set(m) for m in manifests)))[:rows]
    if not indices:
        return None
    res = folders[0].spec.settings.resolution
    cell = res * 2 if res < 128 else res  # upscale 64x64 samples (nearest) for legibility
    font = _font()
    width = _TEXT_W + len(folders) * (cell + _PAD) + _PAD
    height = _HEADER + len(indices) * (cell + _PAD) + _PAD
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for col, folder in enumerate(folders):
        x = _TEXT_W + _PAD + col * (cell + _PAD)
        draw.text(
            (x + 2, 4),
            f"{_series(folder)} scale {format_scale(folder.spec.scale)}",
            fill="black",
            font=font,
        )
    for row, index in enumerate(indices):
        y = _HEADER + row * (cell + _PAD)
        caption = manifests[0][index]["caption"]
        lines = textwrap.wrap(caption, width=32)[: max(1, cell // 14)]
        draw.multiline_text((4, y + 2), "\n".join(lines), fill="black", font=font, spacing=2)
        for col, (folder, manifest) in enumerate(zip(folders, manifests, strict=True)):
            with Image.open(folder.path / manifest[index]["file"]) as img:
                tile = img.convert("RGB").resize((cell, cell), Image.Resampling.NEAREST)
            canvas.paste(tile, (_TEXT_W + _PAD + col * (cell + _PAD), y))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    atomic_write_bytes(Path(out_path), buffer.getvalue())
    return Path(out_path)


def _series(folder: RunFolder) -> str:
    """The method, with the guidance interval of a run that has one (``cfg sigma[0.3,3]``;
    :func:`bench.plots.series_method`, the one naming rule)."""
    interval = getattr(folder.spec, "guidance_interval", None)
    return series_method(folder.spec.method, "" if interval is None else format_interval(interval))


def grid_file_name(series: str) -> str:
    """``cfg`` -> ``cfg.png``; ``cfg sigma[0.3,3]`` -> ``cfg_sigma_0.3_3.png``."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", series).strip("_") + ".png"


def make_grids(folders: Sequence[RunFolder], out_dir: Path, rows: int = 6) -> dict[str, Path]:
    """``grids/<method>.png`` for every method present; runs with a guidance interval get a
    grid of their own (``grids/cfg_sigma_0.3_3.png``), never columns of the full-range grid."""
    out: dict[str, Path] = {}
    for series in sorted({_series(f) for f in folders}):
        path = make_grid(
            [f for f in folders if _series(f) == series],
            rows,
            Path(out_dir) / grid_file_name(series),
        )
        if path is not None:
            out[series] = path
    return out
