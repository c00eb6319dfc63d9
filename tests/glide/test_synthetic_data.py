"""The synthetic captioned dataset: determinism, grammar round trip, held-out pairs, COCO files."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from glide.data.grammar import make_caption, parse_caption
from glide.data.scene import HELDOUT_PAIRS, Obj, Scene, sample_scene
from glide.data.synthetic import SyntheticCaptions, generate_dataset, main
from glide.data.torch_dataset import SyntheticTorchDataset
from glide.errors import GlideError


def test_same_seed_same_items_different_seed_different():
    a, b, c = SyntheticCaptions(3, "val"), SyntheticCaptions(3, "val"), SyntheticCaptions(4, "val")
    for i in range(5):
        ia, ib = a[i], b[i]
        assert np.array_equal(ia[0], ib[0]) and ia[1:] == ib[1:]
    assert any(a[i][1] != c[i][1] for i in range(5))
    assert any(a[i][1] != SyntheticCaptions(3, "train")[i][1] for i in range(5))


def test_items_do_not_depend_on_order_or_count():
    ds = SyntheticCaptions(7, "train")
    forward = [ds[i] for i in range(6)]
    backward = [SyntheticCaptions(7, "train")[i] for i in reversed(range(6))][::-1]
    alone = SyntheticCaptions(7, "train")[5]
    for (im1, cap1, sc1), (im2, cap2, sc2) in zip(forward, backward, strict=True):
        assert np.array_equal(im1, im2) and cap1 == cap2 and sc1 == sc2
    assert np.array_equal(alone[0], forward[5][0]) and alone[1] == forward[5][1]


def test_images_are_uint8_rgb_and_sizes_show_one_scene():
    im64, caption, scene = SyntheticCaptions(0, "val", size=64)[2]
    im256 = SyntheticCaptions(0, "val", size=256)[2][0]
    assert im64.shape == (64, 64, 3) and im64.dtype == np.uint8
    assert im256.shape == (256, 256, 3)
    down = im256.reshape(64, 4, 64, 4, 3).mean(axis=(1, 3))
    assert np.abs(down - im64.astype(float)).mean() < 4.0  # same picture, different resolution
    assert len(np.unique(im64.reshape(-1, 3), axis=0)) > 2  # antialiased edges


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31), index=st.integers(0, 10**6), split=st.sampled_from(["train", "val"])
)
def test_caption_round_trip(seed, index, split):
    ds = SyntheticCaptions(seed, split)
    item = ds.item(index)
    assert parse_caption(item.caption) == item.scene
    for caption in ds.paraphrases(index, 4):
        assert parse_caption(caption) == item.scene


def test_every_template_and_synonym_round_trips():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(3000):
        scene = sample_scene(rng, "val")
        caption = make_caption(scene, rng)
        assert parse_caption(caption) == scene
        seen.add(caption)
    assert len(seen) > 2500  # paraphrases and attributes vary


def test_parse_tolerates_case_period_and_grey():
    scene = parse_caption("  A Small RED circle  on the left, Grey background. ")
    assert scene == Scene("single", "gray", (Obj("circle", "red", "small"),), position="left")
    rel = parse_caption("a little green triangle below a large purple square on a black background")
    assert rel.relation == "below" and rel.objects[1] == Obj("square", "purple", "large")
    assert parse_caption("a pair of big blue stars, white background").count == 2


@pytest.mark.parametrize(
    "caption",
    [
        "a photo of a cat",
        "",
        "a small red circle on the left",  # no background
        "a red circle on the left, white background",  # no size
        "a small pink circle on the left, white background",  # colour outside the vocabulary
        "two small red circle on a white background",  # singular after a count
        "a small red circle above a small red circle, white background",  # ambiguous relation
        "a small red circle on the left, white background and more",
    ],
)
def test_foreign_captions_raise(caption):
    with pytest.raises(GlideError, match="caption"):
        parse_caption(caption)


def test_non_string_caption_raises():
    with pytest.raises(GlideError, match="string"):
        parse_caption(None)  # type: ignore[arg-type]


def test_heldout_pairs_only_in_val():
    assert len(HELDOUT_PAIRS) == 5 and len({s for s, _ in HELDOUT_PAIRS}) == 5
    train = SyntheticCaptions(0, "train")
    assert not any(train.item(i).scene.heldout for i in range(1500))
    val = SyntheticCaptions(0, "val")
    val_heldout = [i for i in range(600) if val.item(i).scene.heldout]
    assert 0.08 < len(val_heldout) / 600 < 0.35
    pairs = {
        (o.shape, o.colour) for i in val_heldout for o in val.item(i).scene.objects if o.heldout
    }
    assert pairs == set(HELDOUT_PAIRS)


def test_bad_arguments_raise():
    with pytest.raises(GlideError, match="split"):
        SyntheticCaptions(0, "holdout")  # train, val and test exist
    with pytest.raises(GlideError, match="seed"):
        SyntheticCaptions(-1)
    with pytest.raises(GlideError, match="size"):
        SyntheticCaptions(0, size=50)
    with pytest.raises(GlideError, match="index"):
        SyntheticCaptions(0).item(-3)
    with pytest.raises(IndexError):
        SyntheticCaptions(0, length=4)[4]
    with pytest.raises(GlideError, match="colour"):
        Obj("circle", "pink", "small")
    with pytest.raises(GlideError, match="position"):
        Scene("single", "white", (Obj("circle", "red", "small"),), position="middle-ish")


def test_coco_files_load_with_pycocotools(tmp_path):
    from pycocotools.coco import COCO

    paths = generate_dataset(
        tmp_path, seed=5, n_train=6, n_val=4, sizes=(64, 256), captions_per_image=2
    )
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(paths["val"]))
    assert len(coco.getImgIds()) == 4 and len(coco.getAnnIds()) == 8
    ds = SyntheticCaptions(5, "val")
    for image in coco.loadImgs(coco.getImgIds()):
        attributes = image["attributes"]
        index = attributes["index"]
        scene = Scene.from_dict(attributes)
        assert scene == ds.item(index).scene and attributes["heldout"] == scene.heldout
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=image["id"])):
            assert parse_caption(ann["caption"]) == scene
        from PIL import Image

        png = np.asarray(Image.open(tmp_path / "val" / image["file_name"]))
        assert np.array_equal(png, ds[index][0])
        assert Image.open(tmp_path / "val256" / image["file_name"]).size == (256, 256)
    train = json.loads(paths["train"].read_text())
    assert len(train["images"]) == 6 and not any(
        i["attributes"]["heldout"] for i in train["images"]
    )
    assert not list(tmp_path.rglob(".tmp-*"))


def test_generate_resumes_and_allows_empty_train(tmp_path):
    generate_dataset(tmp_path, seed=1, n_train=0, n_val=3, sizes=(64,))
    first = (tmp_path / "val" / "val_0000001.png").stat().st_mtime_ns
    generate_dataset(tmp_path, seed=1, n_train=0, n_val=3, sizes=(64,))
    assert (tmp_path / "val" / "val_0000001.png").stat().st_mtime_ns == first
    assert (
        json.loads((tmp_path / "annotations" / "captions_train.json").read_text())["images"] == []
    )


def test_cli(tmp_path, capsys):
    assert (
        main(
            [
                "--out",
                str(tmp_path),
                "--n-train",
                "2",
                "--n-val",
                "2",
                "--sizes",
                "64",
                "--no-progress",
            ]
        )
        == 0
    )
    assert (tmp_path / "annotations" / "captions_val.json").is_file()
    assert main(["--out", str(tmp_path), "--n-train", "2", "--n-val", "-1", "--sizes", "64"]) == 2
    assert "n_val" in capsys.readouterr().err
    assert main(["--out", str(tmp_path), "--n-train", "1", "--n-val", "1", "--sizes", "6x4"]) == 2
    assert "--sizes" in capsys.readouterr().err


def test_torch_dataset_batches():
    ds = SyntheticTorchDataset(seed=0, split="train", length=8, sizes=(64, 256))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 3, 64, 64) and batch["image256"].shape == (4, 3, 256, 256)
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    assert batch["caption"] == [SyntheticCaptions(0, "train")[i][1] for i in range(4)]
