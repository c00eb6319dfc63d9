"""The demo and the default sweep read the synthetic set's ``test`` split: the captions and the
reference ("real") images of FID/KID/precision-recall, which no training, checkpoint choice or
tuning of the embedded models read (val is where the embedded base was selected)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bench.errors import BenchError
from bench.synthetic_captions import (
    DEFAULT_SYNTHETIC_SPLIT,
    ensure_synthetic_split,
    ensure_synthetic_val,
)
from glide.data.synthetic import SyntheticCaptions
from reports import demo


def test_benchmark_synthetic_source_is_the_test_split(tmp_path):
    assert DEFAULT_SYNTHETIC_SPLIT == "test"
    captions, images = ensure_synthetic_val(tmp_path, resolution=64, n_val=6)
    assert captions.name == "captions_test.json" and images.name == "test"
    data = json.loads(captions.read_text())
    assert data["info"]["split"] == "test" and len(data["images"]) == 6
    ds = SyntheticCaptions(0, "test")
    for image, ann in zip(data["images"], data["annotations"], strict=True):
        index = image["attributes"]["index"]
        assert ann["caption"] == ds.item(index).caption
        png = np.asarray(Image.open(images / image["file_name"]))
        assert np.array_equal(png, ds[index][0])  # the reference images are test images
    # cached: a second call returns the same files without rebuilding them
    stamp = captions.stat().st_mtime_ns
    assert ensure_synthetic_val(tmp_path, resolution=64, n_val=6) == (captions, images)
    assert captions.stat().st_mtime_ns == stamp


def test_val_on_request_and_train_refused(tmp_path):
    captions, images = ensure_synthetic_split(tmp_path, resolution=64, n=3, split="val")
    assert captions.name == "captions_val.json" and images.name == "val"
    first_val = json.loads(captions.read_text())["annotations"][0]["caption"]
    assert first_val == SyntheticCaptions(0, "val").item(0).caption
    test_captions, _ = ensure_synthetic_split(tmp_path, resolution=64, n=3)
    assert test_captions.parent.parent != captions.parent.parent  # separate cache folders
    with pytest.raises(BenchError, match="train is what the embedded models learned from"):
        ensure_synthetic_split(tmp_path, resolution=64, n=3, split="train")


def test_the_demos_sweep_reads_test_captions_and_test_reference_images(tmp_path):
    """The sweep the demo runs, resolved up to its caption set (nothing generated)."""
    from dataclasses import replace

    from bench import sweep

    demo_args = demo.build_parser().parse_args(["--out", str(tmp_path / "d"), "--num-samples", "5"])
    config = demo.demo_sweep_config(demo_args)
    assert config.captions.coco_captions is None  # the default caption source
    assert config.captions.synthetic_split == "test"
    config = replace(config, captions=replace(config.captions, synthetic_val_size=8))
    captions = sweep.resolve_captions(config, tmp_path / "c")
    assert captions.source["kind"] == "synthetic"
    assert captions.source["captions_file"].endswith("captions_test.json")
    assert captions.images_dir.name == "test"
    assert len(captions.reference_files) == 8 and captions.source["reference"] == "all"
    test_captions = {SyntheticCaptions(0, "test").item(i).caption for i in range(8)}
    val_captions = {SyntheticCaptions(0, "val").item(i).caption for i in range(8)}
    chosen = {entry.caption for entry in captions.entries}
    assert len(chosen) == 5 and chosen <= test_captions and not chosen & val_captions
