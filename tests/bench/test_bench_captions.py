"""Caption sets: seeded subsets, COCO validation, missing images, center-crop policy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bench.captions import load_caption_set, select_caption_ids
from bench.errors import BenchError
from bench.images import center_crop_resize


def test_subset_is_deterministic_seeded_and_prefix_stable(coco):
    captions, images = coco
    a = load_caption_set(captions, images, num_samples=10, seed=3)
    b = load_caption_set(captions, images, num_samples=10, seed=3)
    assert [e.caption_id for e in a.entries] == [e.caption_id for e in b.entries]
    assert a.source["ids_sha256"] == b.source["ids_sha256"]
    c = load_caption_set(captions, images, num_samples=10, seed=4)
    assert [e.caption_id for e in c.entries] != [e.caption_id for e in a.entries]
    longer = load_caption_set(captions, images, num_samples=20, seed=3)
    assert [e.caption_id for e in longer.entries[:10]] == [e.caption_id for e in a.entries]
    assert [e.index for e in a.entries] == list(range(10))
    # the order does not follow annotation ids: it is a random subset
    ids = [e.caption_id for e in longer.entries]
    assert ids != sorted(ids)


def test_subset_does_not_depend_on_file_order(coco, tmp_path):
    captions, images = coco
    data = json.loads(captions.read_text())
    data["annotations"].reverse()
    shuffled = tmp_path / "shuffled.json"
    shuffled.write_text(json.dumps(data))
    a = load_caption_set(captions, images, num_samples=7, seed=0)
    b = load_caption_set(shuffled, images, num_samples=7, seed=0)
    assert [e.caption_id for e in a.entries] == [e.caption_id for e in b.entries]


def test_select_caption_ids_pure():
    ids = list(range(100))
    assert select_caption_ids(ids, 5, 1) == select_caption_ids(list(reversed(ids)), 5, 1)
    with pytest.raises(BenchError, match="--num-samples: 101 exceeds the 100 captions"):
        select_caption_ids(ids, 101, 0)


def test_reference_modes(coco):
    captions, images = coco
    full = load_caption_set(captions, images, num_samples=5, seed=0, reference="all")
    sub = load_caption_set(captions, images, num_samples=5, seed=0, reference="subset")
    assert len(full.reference_files) == 24
    assert 1 <= len(sub.reference_files) <= 5
    assert (
        full.source["reference"] == "all" and "center-crop" in full.source["reference_preprocess"]
    )
    # captions are whitespace-normalised
    assert all("  " not in e.caption for e in full.entries)


@pytest.mark.parametrize(
    "content, why",
    [
        ("[1, 2, 3]", "top level is a list"),
        ('{"images": []}', "missing list 'annotations'"),
        ('{"images": [], "annotations": [{"id": 1, "caption": "x"}]}', "without 'id'/'image_id'"),
        ("not json at all", "not valid JSON"),
        ('{"images": [{"id": 1}], "annotations": []}', "without 'id'/'file_name'"),
    ],
)
def test_not_coco_format_is_refused(tmp_path, content, why):
    path = tmp_path / "bad.json"
    path.write_text(content)
    (tmp_path / "imgs").mkdir()
    with pytest.raises(BenchError, match="is not an MS-COCO captions file") as info:
        load_caption_set(path, tmp_path / "imgs", num_samples=1, seed=0)
    assert why in str(info.value)
    assert "--coco-captions" in str(info.value)


def test_missing_images_are_listed(coco):
    captions, images = coco
    (images / "COCO_val_000003.jpg").unlink()
    with pytest.raises(BenchError, match="lacks 1 of the 24 images.*COCO_val_000003.jpg"):
        load_caption_set(captions, images, num_samples=4, seed=0, reference="all")
    with pytest.raises(BenchError, match="is not a folder"):
        load_caption_set(captions, images / "nope", num_samples=4, seed=0)


def test_center_crop_resize(tmp_path):
    # left half black, right half white, 200x100: the center square straddles the edge
    pixels = np.zeros((100, 200, 3), dtype=np.uint8)
    pixels[:, 100:] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    out = center_crop_resize(tmp_path / "wide.png", 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert out[:, :20].mean() < 5 and out[:, -20:].mean() > 250  # not squeezed: crop kept 50/50
