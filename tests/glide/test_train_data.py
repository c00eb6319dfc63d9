"""Real images (a --data folder in MS-COCO captions format) are centre-cropped to the training
resolution, as the paper and the benchmark's reference images, not squashed; the choice is
recorded in the run's config.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glide.errors import GlideError
from glide.train import text2im
from glide.train.data import load_coco_folder, load_data


def coco_folder(root: Path) -> Path:
    """One 96x32 image: red, green and blue thirds (left to right); its centre is green."""
    pixels = np.zeros((32, 96, 3), dtype=np.uint8)
    pixels[:, :32, 0] = pixels[:, 32:64, 1] = pixels[:, 64:, 2] = 255
    (root / "train").mkdir(parents=True)
    Image.fromarray(pixels).save(root / "train" / "wide.png")
    (root / "annotations").mkdir()
    captions = {
        "images": [{"id": 7, "file_name": "wide.png", "width": 96, "height": 32}],
        "annotations": [{"id": 1, "image_id": 7, "caption": "a green square"}],
    }
    (root / "annotations" / "captions_train.json").write_text(json.dumps(captions))
    return root


def test_folder_images_are_center_cropped(tmp_path: Path) -> None:
    root = coco_folder(tmp_path / "coco")
    data = load_coco_folder(root, "train", 16, progress=False)
    image = data.images[0].float()  # [3, 16, 16]
    assert data.images.shape == (1, 3, 16, 16)
    assert image[1].min() > 250 and image[0].max() < 5 and image[2].max() < 5  # all green
    assert "center-crop to 16x16" in data.source
    # the old behaviour, on request: the whole image squeezed, three bands
    squashed = load_data(str(root), 16, image_fit="squash", progress=False).images[0].float()
    assert squashed[0, :, :4].min() > 250 and squashed[2, :, -4:].min() > 250
    with pytest.raises(GlideError, match="--image-fit 'stretch' is unknown"):
        load_coco_folder(root, "train", 16, fit="stretch")


def test_the_choice_is_recorded_in_the_run_config(tmp_path: Path, capsys) -> None:
    root = coco_folder(tmp_path / "coco")
    argv = ["--out", str(tmp_path / "run"), "--model", "tiny-base", "--set", "num_channels=64",
            "--data", str(root), "--batch-size", "2", "--no-progress"]  # fmt: skip
    assert text2im.main([*argv, "--steps", "1"]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["image_fit"] == "center-crop"
    assert config["data"]["preprocessing"].startswith("centre-crop to the shorter side")
    assert "center-crop to 16x16" in config["data"]["source"]
    assert len(config["data"]["sha256"]) == 64
    # resuming with the other fit is refused: it would train on other pixels
    capsys.readouterr()
    assert text2im.main([*argv, "--steps", "2", "--image-fit", "squash"]) == 2
    assert (
        "--image-fit: the run has 'center-crop', this command 'squash'" in capsys.readouterr().err
    )
