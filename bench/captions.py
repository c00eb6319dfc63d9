"""Caption sets for zero-shot evaluation: MS-COCO captions files read through pycocotools.

The paper samples its evaluation captions at random from the validation captions. Here the
subset is a seeded ranking of every annotation id by ``sha256(seed, annotation id)``; the first
``n`` are evaluated, in that order. This does not depend on numpy's RNG streams, and a larger
``--num-samples`` extends a smaller one (same seed) instead of replacing it. The reference set
is the whole image set of the captions file ("all", the paper's choice) or only the images of
the chosen captions ("subset"), center-cropped and resized to the evaluated resolution.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.images import REFERENCE_PREPROCESS
from bench.spec import content_hash
from glide.io import sha256_file

REFERENCE_MODES = ("all", "subset")
SUBSET_METHOD = "rank every annotation id by sha256('glide-bench/captions/<seed>/<id>'); first n"


@dataclass(frozen=True)
class CaptionEntry:
    """One evaluated caption; ``index`` is its position in the subset (drives its seed)."""

    index: int
    caption_id: int
    image_id: int
    caption: str


@dataclass(frozen=True)
class CaptionSet:
    """The evaluated captions and the reference images they are compared against."""

    entries: tuple[CaptionEntry, ...]
    images_dir: Path
    reference_files: tuple[str, ...]
    source: dict[str, Any] = field(default_factory=dict)

    def spec_record(self) -> dict[str, Any]:
        """What enters each RunSpec (content, not paths: moving the files keeps the run ids)."""
        keys = ("kind", "captions_sha256", "subset_seed", "num_samples", "ids_sha256", "subset")
        return {k: self.source[k] for k in keys}

    def reference_paths(self) -> list[Path]:
        return [self.images_dir / name for name in self.reference_files]


def _not_coco(path: Path, why: str) -> BenchError:
    return BenchError(
        f"--coco-captions: {path} is not an MS-COCO captions file ({why}); expected JSON with "
        "'images' (each with 'id' and 'file_name') and 'annotations' (each with 'id', "
        "'image_id' and 'caption'), such as annotations/captions_val2014.json"
    )


def read_coco_captions(path: Path) -> dict[str, Any]:
    """Read and validate a COCO captions JSON file (raises BenchError naming what is wrong)."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"--coco-captions: {path} does not exist or is not a file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _not_coco(path, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _not_coco(path, f"top level is a {type(data).__name__}, not an object")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise _not_coco(path, f"missing list {key!r}")
    for image in data["images"]:
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise _not_coco(path, f"image entry without 'id'/'file_name': {str(image)[:80]}")
    for ann in data["annotations"]:
        if not isinstance(ann, dict) or not {"id", "image_id", "caption"} <= set(ann):
            raise _not_coco(path, f"annotation without 'id'/'image_id'/'caption': {str(ann)[:80]}")
        if not isinstance(ann["caption"], str):
            raise _not_coco(path, f"annotation {ann['id']} has a non-text caption")
    if not data["annotations"]:
        raise _not_coco(path, "it holds no captions")
    return data


def _index_with_pycocotools(data: dict[str, Any]):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    return coco


def subset_rank_key(seed: int, caption_id: int) -> bytes:
    return hashlib.sha256(f"glide-bench/captions/{int(seed)}/{caption_id}".encode()).digest()


def select_caption_ids(caption_ids: list[int], num_samples: int, seed: int) -> list[int]:
    """The seeded random subset: ``num_samples`` ids ranked by ``sha256(seed, id)``."""
    if num_samples > len(caption_ids):
        raise BenchError(
            f"--num-samples: {num_samples} exceeds the {len(caption_ids)} captions available; "
            "lower it or use a larger caption set"
        )
    ranked = sorted(caption_ids, key=lambda cid: subset_rank_key(seed, cid))
    return ranked[:num_samples]


def load_caption_set(
    captions_file: Path,
    images_dir: Path,
    *,
    num_samples: int,
    seed: int,
    reference: str = "all",
    kind: str = "coco",
    check_images: bool = True,
) -> CaptionSet:
    """Pick the evaluated captions and the reference images from a COCO-format captions file."""
    if reference not in REFERENCE_MODES:
        raise BenchError(f"--reference: {reference!r}; choose from {', '.join(REFERENCE_MODES)}")
    captions_file, images_dir = Path(captions_file), Path(images_dir)
    data = read_coco_captions(captions_file)
    coco = _index_with_pycocotools(data)
    chosen = select_caption_ids(sorted(coco.anns), num_samples, seed)
    entries = []
    for index, cid in enumerate(chosen):
        ann = coco.anns[cid]
        if ann["image_id"] not in coco.imgs:
            raise _not_coco(
                captions_file, f"annotation {cid} names unknown image {ann['image_id']}"
            )
        caption = " ".join(ann["caption"].split())
        entries.append(CaptionEntry(index, cid, ann["image_id"], caption))
    if reference == "all":
        ref_ids = sorted(coco.imgs)
    else:
        ref_ids = sorted({e.image_id for e in entries})
    ref_files = tuple(coco.imgs[i]["file_name"] for i in ref_ids)
    if check_images:
        check_image_folder(images_dir, ref_files)
    source = {
        "kind": kind,
        "captions_file": str(captions_file.resolve()),
        "captions_sha256": sha256_file(captions_file),
        "images_dir": str(images_dir.resolve()),
        "subset": SUBSET_METHOD,
        "subset_seed": int(seed),
        "num_samples": int(num_samples),
        "num_captions_available": len(coco.anns),
        "ids_sha256": content_hash(chosen, length=64),
        "reference": reference,
        "num_reference_images": len(ref_files),
        "reference_preprocess": REFERENCE_PREPROCESS,
    }
    return CaptionSet(tuple(entries), images_dir, ref_files, source)


def check_image_folder(images_dir: Path, file_names: tuple[str, ...] | list[str]) -> None:
    """Refuse an image folder that lacks any of the named files (lists the first few)."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise BenchError(f"--coco-images: {images_dir} is not a folder")
    missing = [name for name in file_names if not (images_dir / name).is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise BenchError(
            f"--coco-images: {images_dir} lacks {len(missing)} of the {len(file_names)} images "
            f"named in the captions file ({shown}); point --coco-images at the folder that holds "
            "them (e.g. val2014/) or use --reference subset to need only the sampled captions' "
            "images"
        )
