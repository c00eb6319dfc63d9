"""The real-data floor: held-out real images, with their own captions, scored as if they were a run.

A sweep's numbers need a yardstick: what would a perfect generator score at this sample size,
against this reference set, with these judges? The answer is measured, not assumed: ``n`` real
images that are NOT in the reference set (``n`` = the sweep's ``--num-samples``) are written as
the run folder ``runs/real-images/`` (CONTRACTS.md "The real-images run") and scored by the same
evaluator as every generated run, so FID, KID, precision and recall show the finite-sample floor
and CLIP score / caption match show what real images with their true captions get.

Where the held-out images come from:

- synthetic captions: items ``V .. V+n-1`` of the same split and seed, where ``V`` is
  ``--synthetic-val-size`` (the reference set is items ``0 .. V-1``): the same distribution,
  never in the reference; each rendered at the evaluated resolution like the reference images
  and captioned with its own caption;
- a COCO captions file with ``--reference subset``: ``n`` images of the file that are not
  reference images, ranked by ``sha256('glide-bench/real-images/<seed>/<image id>')``, each with
  its first caption in ``sha256('glide-bench/real-images/<seed>/caption/<id>')`` order,
  center-cropped and resized exactly like the reference images;
- a COCO captions file with ``--reference all`` (the paper's choice): every image of the file is
  a reference image, so there are no held-out images in it; the floor is NOT measured and
  sweep.json and the report say why (no other images are substituted).

The folder is rebuilt only when its spec (source, n, resolution) changes, so its features and
metrics are cached in it like any run's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.captions import CaptionSet, read_coco_captions
from bench.errors import BenchError
from bench.images import REFERENCE_PREPROCESS, center_crop_resize, write_png
from bench.run_contract import REAL_METHOD, REAL_RUN_ID
from bench.runfolder import RunFolder, image_name
from bench.spec import content_hash
from bench.synthetic_captions import SYNTHETIC_SEED

log = logging.getLogger(__name__)

REAL_LABEL = "real images"
FLOOR_VERSION = 1


@dataclass(frozen=True)
class FloorSettings:
    """The part of a run spec a :class:`~bench.runfolder.RunFolder` reads: the sample count."""

    num_samples: int

    def key(self) -> str:
        return content_hash({"real_images": self.num_samples})


@dataclass(frozen=True)
class RealImagesSpec:
    """The spec of ``runs/real-images/``: duck-types :class:`bench.spec.RunSpec` for the run
    folder, the evaluator and the results table (method ``real``, no scale: NaN in the table,
    ``null`` in spec.json)."""

    source: dict[str, Any]
    settings: FloorSettings
    resolution: int

    method: str = REAL_METHOD
    run_id: str = REAL_RUN_ID
    label: str = REAL_LABEL

    @property
    def scale(self) -> float:
        return math.nan

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "label": self.label,
            "method": self.method,
            "scale": None,
            "floor_version": FLOOR_VERSION,
            "num_samples": self.settings.num_samples,
            "resolution": self.resolution,
            "source": self.source,
        }


@dataclass(frozen=True)
class FloorItem:
    index: int
    caption_id: int
    image_id: int
    caption: str
    file_name: str | None = None  # COCO: the original image in --coco-images


@dataclass(frozen=True)
class FloorPlan:
    """Either the held-out items to write (``items``) or why the floor is not measured."""

    spec: RealImagesSpec | None
    items: tuple[FloorItem, ...]
    why_not: str | None
    images_dir: Path | None = None  # COCO: where the originals are

    def record(self) -> dict[str, Any]:
        """The ``real_floor`` entry of sweep.json."""
        if self.spec is None:
            return {"measured": False, "why": self.why_not}
        return {
            "measured": True,
            "run_id": REAL_RUN_ID,
            "num_images": len(self.items),
            "source": self.spec.source,
        }


def _rank(seed: int, what: str) -> bytes:
    return hashlib.sha256(f"glide-bench/real-images/{int(seed)}/{what}".encode()).digest()


def plan_floor(
    captions: CaptionSet,
    *,
    num_samples: int,
    resolution: int,
    seed: int,
    synthetic_split: str,
    synthetic_val_size: int,
) -> FloorPlan:
    """Which held-out real images the sweep scores (no I/O beyond reading the captions file)."""
    kind = captions.source["kind"]
    if kind == "synthetic":
        return _plan_synthetic(num_samples, resolution, synthetic_split, synthetic_val_size)
    return _plan_coco(captions, num_samples=num_samples, resolution=resolution, seed=seed)


def _plan_synthetic(n: int, resolution: int, split: str, first: int) -> FloorPlan:
    from glide.data.synthetic import SyntheticCaptions

    ds = SyntheticCaptions(SYNTHETIC_SEED, split)
    items = tuple(
        FloorItem(i, first + i, first + i + 1, ds.paraphrases(first + i, 1)[0]) for i in range(n)
    )
    source = {
        "kind": "synthetic",
        "split": split,
        "seed": SYNTHETIC_SEED,
        "items": f"{first}..{first + n - 1} (the caption and reference set: items 0..{first - 1})",
        "preprocess": f"rendered at {resolution}x{resolution} like the reference images",
        "captions_sha256": content_hash([it.caption for it in items], length=64),
    }
    spec = RealImagesSpec(source, FloorSettings(n), resolution)
    return FloorPlan(spec, items, None)


def _plan_coco(captions: CaptionSet, *, num_samples: int, resolution: int, seed: int) -> FloorPlan:
    if captions.source.get("reference") == "all":
        return FloorPlan(
            None,
            (),
            "--reference all: every image of the captions file is a reference image, so none is "
            "held out to score as real images; use --reference subset to measure the floor on "
            "images of the file outside the reference set",
        )
    data = read_coco_captions(Path(captions.source["captions_file"]))
    reference = set(captions.reference_files)
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    names = {img["id"]: img["file_name"] for img in data["images"]}
    held_out = [i for i in sorted(by_image) if i in names and names[i] not in reference]
    if len(held_out) < num_samples:
        return FloorPlan(
            None,
            (),
            f"the captions file has {len(held_out)} images outside the reference set, fewer "
            f"than --num-samples {num_samples}; the floor needs as many real images as each run",
        )
    chosen = sorted(held_out, key=lambda i: _rank(seed, str(i)))[:num_samples]
    items = []
    for index, image_id in enumerate(chosen):
        ann = min(by_image[image_id], key=lambda a: _rank(seed, f"caption/{a['id']}"))
        caption = " ".join(ann["caption"].split())
        items.append(FloorItem(index, ann["id"], image_id, caption, names[image_id]))
    images_dir = Path(captions.source["images_dir"])
    missing = [it.file_name for it in items if not (images_dir / str(it.file_name)).is_file()]
    if missing:
        shown = ", ".join(str(m) for m in missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise BenchError(
            f"--coco-images: {images_dir} lacks {len(missing)} of the {len(items)} held-out "
            f"images the real-data floor scores ({shown}); point --coco-images at the folder "
            "holding every image of the captions file"
        )
    source = {
        "kind": captions.source["kind"],
        "captions_sha256": captions.source["captions_sha256"],
        "selection": "images outside the reference set ranked by "
        "sha256('glide-bench/real-images/<seed>/<image id>'), first n; each with its first "
        "caption by sha256('glide-bench/real-images/<seed>/caption/<annotation id>')",
        "seed": int(seed),
        "image_ids_sha256": content_hash(chosen, length=64),
        "preprocess": REFERENCE_PREPROCESS.replace("R x R", f"{resolution} x {resolution}"),
    }
    spec = RealImagesSpec(source, FloorSettings(num_samples), resolution)
    return FloorPlan(spec, tuple(items), None, images_dir=images_dir)


def _image_loader(plan: FloorPlan):
    """``item -> uint8 [R, R, 3]``: synthetic items rendered like the reference images (one
    dataset for all items), COCO images preprocessed like them."""
    spec = plan.spec
    assert spec is not None
    if spec.source["kind"] == "synthetic":
        from glide.data.render import render
        from glide.data.synthetic import SyntheticCaptions

        ds = SyntheticCaptions(SYNTHETIC_SEED, spec.source["split"])
        return lambda item: render(ds.item(item.caption_id).layout, spec.resolution)
    assert plan.images_dir is not None
    images_dir = plan.images_dir
    return lambda item: center_crop_resize(images_dir / item.file_name, spec.resolution)


def write_floor(plan: FloorPlan, sweep_out: Path) -> RunFolder | None:
    """Write (or keep) ``runs/real-images/``; returns its folder, or ``None`` when the floor is
    not measured. A folder whose spec.json differs from the plan is rebuilt."""
    if plan.spec is None:
        return None
    folder = RunFolder(sweep_out, plan.spec)  # type: ignore[arg-type]
    spec_path = folder.path / "spec.json"
    if spec_path.is_file():
        try:
            existing = json.loads(spec_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            existing = None
        if existing != plan.spec.to_json():
            log.info("real-images run: its source changed; rebuilding %s", folder.path)
            shutil.rmtree(folder.path)
    folder.prepare()
    done = folder.read_manifest()
    todo = [it for it in plan.items if it.index not in done]
    if not todo:
        return folder
    records = []
    n = plan.spec.settings.num_samples
    load = _image_loader(plan)
    for item in todo:
        file = image_name(item.index, n)
        write_png(folder.path / file, load(item))
        records.append(
            {
                "index": item.index,
                "caption_id": item.caption_id,
                "image_id": item.image_id,
                "caption": item.caption,
                "seed": None,
                "file": file,
            }
        )
    folder.append(records)
    log.info("real-images run: %d held-out real images written to %s", len(records), folder.path)
    return folder
