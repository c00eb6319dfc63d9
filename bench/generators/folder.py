"""The ``folder`` generator: images another program made, scored on GLIDE's protocol
(``--generator folder --images DIR``).

Sample ``i`` of a sweep is the image of caption ``i`` of the sweep's caption subset (the same
captions, in the same order, that every generator of a sweep with these caption options,
``--num-samples`` and ``--seed`` gets; ``python -m bench.prompts`` lists them with their
per-sample seeds). ``DIR`` holds, for each method and guidance scale, one image per caption
index ``0 .. num_samples-1``, in one of two layouts:

- **folders**: ``DIR/<method>/<scale>/<index>.png``, or ``<index>_s<seed>.png`` where the other
  program records the seed it used (``<scale>`` written as ``bench.spec.format_scale`` does:
  ``1``, ``1.5``, ``3``; ``<index>`` with any zero padding; ``.png``, ``.jpg`` or ``.jpeg``);
- **manifest**: ``DIR/manifest.csv`` with columns ``method``, ``scale``, ``index``, ``file``
  (relative to ``DIR``) and optionally ``caption`` (then checked against the sweep's caption
  of that index) and ``seed``. When ``manifest.csv`` exists the folders are not read.

Every image found is checked before anything is written, with errors naming the file: a name
or row that does not parse, a method that is not ``cfg``/``clip``, an index out of range
(``>= --num-samples``), two images of one (method, scale, index), an image that is not RGB of
``--resolution`` pixels square, and, for each (method, scale) the sweep asks for, a missing
folder or missing indices. The identity (run ids) is the sha256 of every image found, so a
sweep folder of other images is never resumed as these.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.generators.registry import GenerateFn, GeneratorOptions, register_generator
from bench.spec import METHODS, content_hash, format_scale, sample_seed

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("method", "scale", "index", "file")
EXTENSIONS = (".png", ".jpg", ".jpeg")
_NAME_RE = re.compile(r"^(?P<index>[0-9]+)(?:_s(?P<seed>[0-9]+))?$")
_LISTED = 5


@dataclass(frozen=True)
class FolderImage:
    method: str
    scale: float
    index: int
    path: Path
    caption: str | None = None  # manifest layout with a caption column
    seed: int | None = None  # the other program's seed, where recorded


def _listed(items: Sequence[Any]) -> str:
    more = f" and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return ", ".join(str(i) for i in items[:_LISTED]) + more


def _scale(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise BenchError(
            f"--images: {where}: scale {text!r} is not a guidance scale (a finite number >= 0, "
            "written like 1, 1.5 or 3)"
        )
    return value


def _method(text: str, where: str) -> str:
    if text not in METHODS:
        raise BenchError(
            f"--images: {where}: method {text!r} is not one of {', '.join(METHODS)}; name the "
            "method folders (or the manifest's method column) cfg or clip"
        )
    return text


def _index(text: str, where: str) -> int:
    if not text.strip().isdigit():
        raise BenchError(f"--images: {where}: caption index {text!r} is not an integer >= 0")
    return int(text)


def scan_folders(root: Path) -> list[FolderImage]:
    """Every image of the folders layout ``root/<method>/<scale>/<index>[_s<seed>].<ext>``."""
    found = []
    for method_dir in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if not method_dir.is_dir():
            raise BenchError(
                f"--images: {method_dir}: a file at the top of the folder; the layout is "
                f"<method>/<scale>/<index>.png or a {MANIFEST}"
            )
        method = _method(method_dir.name, str(method_dir))
        for scale_dir in sorted(p for p in method_dir.iterdir() if not p.name.startswith(".")):
            if not scale_dir.is_dir():
                raise BenchError(
                    f"--images: {scale_dir}: expected a folder per guidance scale "
                    f"({method}/<scale>/<index>.png)"
                )
            scale = _scale(scale_dir.name, str(scale_dir))
            for path in sorted(p for p in scale_dir.iterdir() if not p.name.startswith(".")):
                match = _NAME_RE.match(path.stem)
                if path.suffix.lower() not in EXTENSIONS or not path.is_file() or not match:
                    raise BenchError(
                        f"--images: {path}: not an image named <index>.png or "
                        f"<index>_s<seed>.png (extensions {', '.join(EXTENSIONS)})"
                    )
                seed = match.group("seed")
                found.append(
                    FolderImage(
                        method,
                        scale,
                        int(match.group("index")),
                        path,
                        seed=None if seed is None else int(seed),
                    )
                )
    return found


def read_manifest(root: Path) -> list[FolderImage]:
    """Every row of ``root/manifest.csv``."""
    path = root / MANIFEST
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BenchError(
                f"--images: {path}: lacks the columns {', '.join(missing)}; it needs "
                f"{', '.join(MANIFEST_COLUMNS)} (optional: caption, seed)"
            )
        found = []
        for row_number, row in enumerate(reader, start=2):
            where = f"{path} line {row_number}"
            file = (root / (row["file"] or "")).resolve()
            if not row["file"] or not file.is_file():
                raise BenchError(f"--images: {where}: missing image {row['file']!r} (under {root})")
            seed = (row.get("seed") or "").strip()
            found.append(
                FolderImage(
                    _method((row["method"] or "").strip(), where),
                    _scale((row["scale"] or "").strip(), where),
                    _index(row["index"] or "", where),
                    file,
                    caption=row.get("caption"),
                    seed=_index(seed, where) if seed else None,
                )
            )
    return found


def check_layout(
    images: list[FolderImage],
    *,
    resolution: int,
    num_samples: int,
    wanted: Sequence[tuple[str, float]],
    root: Path,
) -> dict[tuple[str, float, int], FolderImage]:
    """The images by (method, scale, index), checked (module docstring); raises BenchError."""
    from PIL import Image

    by_key: dict[tuple[str, float, int], FolderImage] = {}
    for image in images:
        key = (image.method, image.scale, image.index)
        if image.index >= num_samples:
            raise BenchError(
                f"--images: {image.path}: caption index {image.index} is out of range: the "
                f"sweep has --num-samples {num_samples} (indices 0..{num_samples - 1}); raise "
                "--num-samples or remove the image"
            )
        if key in by_key:
            raise BenchError(
                f"--images: {image.path} and {by_key[key].path} are both "
                f"{image.method} scale {format_scale(image.scale)} caption index {image.index}; "
                "keep one image per (method, scale, index)"
            )
        by_key[key] = image
        try:
            with Image.open(image.path) as img:
                size, mode = img.size, img.mode
        except (OSError, ValueError) as exc:
            raise BenchError(
                f"--images: {image.path}: cannot be read as an image ({exc})"
            ) from None
        if size != (resolution, resolution) or mode != "RGB":
            raise BenchError(
                f"--images: {image.path}: {size[0]}x{size[1]} {mode}; the sweep scores RGB "
                f"images of --resolution {resolution}x{resolution} (resize or convert them first, "
                "or give the --resolution they have)"
            )
    present = sorted({(m, s) for m, s, _ in by_key})
    for method, scale in wanted:
        if (method, scale) not in present:
            raise BenchError(
                f"--images: no images for {method} scale {format_scale(scale)} in {root} "
                f"(expected {method}/{format_scale(scale)}/<index>.png or {MANIFEST} rows); "
                f"found: {_listed([f'{m} {format_scale(s)}' for m, s in present]) or 'none'}"
            )
        missing = [i for i in range(num_samples) if (method, scale, i) not in by_key]
        if missing:
            raise BenchError(
                f"--images: {method} scale {format_scale(scale)}: missing image for caption "
                f"index {_listed(missing)} ({len(missing)} of {num_samples}) in {root}"
            )
    return by_key


@register_generator("folder")
def folder_generator(options: GeneratorOptions) -> tuple[GenerateFn, dict[str, Any]]:
    """Images from a folder (module docstring), checked before the sweep starts."""
    from bench.images import read_png
    from glide.io import sha256_file

    if options.images is None:
        raise BenchError("--images: --generator folder needs --images DIR (the images to score)")
    root = Path(options.images)
    if not root.is_dir():
        raise BenchError(f"--images: {str(root)!r} is not a folder")
    layout = "manifest" if (root / MANIFEST).is_file() else "folders"
    found = read_manifest(root) if layout == "manifest" else scan_folders(root)
    wanted = [(m, float(s)) for m in options.methods for s in options.scales]
    by_key = check_layout(
        found,
        resolution=options.resolution,
        num_samples=options.num_samples,
        wanted=wanted,
        root=root,
    )
    index_of = {sample_seed(options.seed, i): i for i in range(options.num_samples)}
    hashes = {
        f"{m}/{format_scale(s)}/{i}": sha256_file(image.path)
        for (m, s, i), image in sorted(by_key.items())
    }
    name = options.name or root.resolve().name
    identity = {
        "display_name": name,
        "source": "folder of images",
        "layout": layout,
        "images": content_hash(hashes, length=24),
        "num_images": len(hashes),
    }

    def generate(captions: Sequence[str], seeds: Sequence[int], method: str, scale: float):
        out = []
        for caption, seed in zip(captions, seeds, strict=True):
            index = index_of.get(int(seed))
            if index is None:
                raise AssertionError("folder generator asked for a seed of another sweep")
            image = by_key[(method, float(scale), index)]
            if image.caption is not None and image.caption != caption:
                raise BenchError(
                    f"--images: {image.path} was made for caption {image.caption!r}, but caption "
                    f"index {index} of this sweep is {caption!r}; the images belong to other "
                    "caption options, --num-samples or --seed"
                )
            out.append(read_png(image.path))
        return np.stack(out)

    description = dict(identity, images_folder=str(root.resolve()))
    return generate, {"identity": identity, "pipeline": description}
