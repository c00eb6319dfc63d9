"""The synthetic set's ``test`` split: its own random streams (train and val items unchanged,
byte for byte), and nothing but the final evaluation reads it: the training recipes build only
``train`` datasets, the training torch dataset refuses ``test``, ``bench.model_eval`` reads
``val`` unless told ``--split test``, and no training module names the test split."""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

import glide.data.synthetic as synthetic
from glide.data.grammar import parse_caption
from glide.data.render import render
from glide.data.scene import SPLITS, check_development_split
from glide.data.synthetic import SyntheticCaptions, generate_dataset
from glide.data.torch_dataset import SyntheticTorchDataset
from glide.errors import GlideError

ROOT = Path(__file__).resolve().parents[2]

# sha256 over the first 16 items of (seed, split): the 64x64 and 256x256 renders (uint8 bytes)
# and two paraphrases of each caption, computed with the code BEFORE the test split existed
# (commit 411fd51): adding the split must leave every train and val item as it was.
FINGERPRINTS = {
    (0, "train"): "c4e499811738d650f1525bee8e92886075f2d501d5450b9f53fb2bc0a914143d",
    (0, "val"): "98e91acbdc31a4db2e101dd1aa007a902ab956606c03deace959157ca9343b27",
    (1729, "train"): "5043f431c1780abefb4963a3da9ac3f6badf4bdb79a1f8d7e79d44cd98fc6d3c",
    (1729, "val"): "254dd6e17acaa27d50d23862b533e7134a255ce496c0e90380cbfb8b921831c4",
}


def fingerprint(seed: int, split: str, n: int = 16) -> str:
    ds = SyntheticCaptions(seed, split)
    h = hashlib.sha256()
    for i in range(n):
        item = ds.item(i)
        for size in (64, 256):
            h.update(render(item.layout, size).tobytes())
        for caption in ds.paraphrases(i, 2):
            h.update(caption.encode() + b"\n")
    return h.hexdigest()


@pytest.mark.parametrize("seed,split", sorted(FINGERPRINTS))
def test_train_and_val_items_are_unchanged(seed, split):
    assert fingerprint(seed, split) == FINGERPRINTS[(seed, split)]


def test_test_split_has_its_own_items_with_heldout_pairs():
    assert SPLITS == ("train", "val", "test")
    test, val, train = (SyntheticCaptions(0, s) for s in ("test", "val", "train"))
    caps = [test.item(i).caption for i in range(200)]
    assert caps == [SyntheticCaptions(0, "test").item(i).caption for i in range(200)]
    assert caps != [val.item(i).caption for i in range(200)]
    assert caps != [train.item(i).caption for i in range(200)]
    assert not np.array_equal(test[0][0], val[0][0])
    held = sum(test.item(i).scene.heldout for i in range(200))
    assert 0.08 < held / 200 < 0.35  # held-out (shape, colour) pairs, as in val
    for i in range(20):
        item = test.item(i)
        assert parse_caption(item.caption) == item.scene
        assert all(parse_caption(c) == item.scene for c in test.paraphrases(i, 3))


def test_files_with_and_without_a_test_split(tmp_path):
    plain = generate_dataset(tmp_path / "a", seed=0, n_train=3, n_val=4, sizes=(64,))
    assert set(plain) == {"train", "val"} and not (tmp_path / "a" / "test").exists()
    paths = generate_dataset(tmp_path / "b", seed=0, n_train=3, n_val=4, n_test=5, sizes=(64,))
    assert set(paths) == {"train", "val", "test"}
    for split in ("train", "val"):  # the train and val files do not change with a test split
        assert paths[split].read_bytes() == plain[split].read_bytes()
        for png in sorted((tmp_path / "a" / split).glob("*.png")):
            assert (tmp_path / "b" / split / png.name).read_bytes() == png.read_bytes()
    data = json.loads(paths["test"].read_text())
    assert data["info"]["split"] == "test" and len(data["images"]) == 5
    ds = SyntheticCaptions(0, "test")
    for image, ann in zip(data["images"], data["annotations"], strict=True):
        assert image["attributes"]["split"] == "test"
        assert ann["caption"] == ds.item(image["attributes"]["index"]).caption
    assert synthetic.main(
        ["--out", str(tmp_path / "c"), "--n-train", "0", "--n-val", "1", "--n-test", "2",
         "--sizes", "64", "--no-progress"]
    ) == 0  # fmt: skip
    assert len(list((tmp_path / "c" / "test").glob("*.png"))) == 2


def test_development_split_check_and_the_training_dataset_refuse_test():
    assert check_development_split("train") == "train"
    assert check_development_split("val") == "val"
    with pytest.raises(GlideError, match="final evaluation only"):
        check_development_split("test")
    with pytest.raises(GlideError, match="final evaluation only"):
        SyntheticTorchDataset(seed=0, split="test", length=4)
    assert len(SyntheticTorchDataset(seed=0, split="train", length=4)) == 4


# ----- training never reads the test split ---------------------------------------------------

EMBEDDED = ROOT / "glide" / "assets" / "embedded"
# recipe -> the extra arguments it needs (the fine-tuning recipes start from a checkpoint)
RECIPES = {
    "text2im": [],
    "inpaint": ["--init", str(EMBEDDED / "base.pt")],
    "upsample": [],
    "upsample_inpaint": ["--init", str(EMBEDDED / "upsample.pt")],
    "clip": [],
}


class _Stop(Exception):
    """Raised by the spies once a recipe has asked for its data (no training happens)."""


def test_training_recipes_build_only_train_datasets(tmp_path, monkeypatch):
    """Every recipe's command line with --data synthetic (and text2im's with a COCO folder):
    the only split any of them asks for is ``train`` (the spies stop the run at that point)."""
    import importlib

    import glide.train.data as train_data

    asked: list[tuple[str, str]] = []
    current = {"recipe": ""}

    class SpyCaptions(SyntheticCaptions):
        def __init__(self, seed=0, split="train", *args, **kwargs):
            asked.append((current["recipe"], split))
            raise _Stop

    def spy_coco(root, split="train", *args, **kwargs):
        asked.append((current["recipe"], split))
        raise _Stop

    monkeypatch.setattr(synthetic, "SyntheticCaptions", SpyCaptions)
    monkeypatch.setattr(train_data, "load_coco_folder", spy_coco)
    for name, extra in RECIPES.items():
        module = importlib.import_module(f"glide.train.{name}")
        current["recipe"] = name
        # a COCO folder goes through the same load_data call: checked once, for text2im
        for data in ("synthetic", str(tmp_path / "coco"))[: 2 if name == "text2im" else 1]:
            argv = ["--out", str(tmp_path / name), "--data", data, "--steps", "1",
                    "--no-progress", *extra]  # fmt: skip
            with pytest.raises(_Stop):
                module.main(argv)
    assert len(asked) == len(RECIPES) + 1
    assert {split for _, split in asked} == {"train"}, asked


def test_training_data_loaders_default_to_train():
    from glide.train.data import generate_synthetic, load_coco_folder, load_data

    for fn in (generate_synthetic, load_coco_folder, load_data):
        assert inspect.signature(fn).parameters["split"].default == "train", fn.__name__


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_no_training_or_selection_module_names_the_test_split():
    """Grep-style: the training recipes and the judges' training scripts contain no string
    "test" at all (a split can only be named by such a literal); bench.model_eval names it
    only as a choice of --split, whose default is val."""
    modules = sorted((ROOT / "glide" / "train").glob("*.py"))
    modules += [ROOT / "bench" / "judges" / "train.py", ROOT / "bench" / "judges" / "train_clip.py"]
    assert len(modules) > 10
    for path in modules:
        assert "test" not in _string_constants(path), path


def test_evaluate_reads_val_by_default_and_test_only_when_asked(monkeypatch, capsys):
    from bench import model_eval as evaluate
    from glide.pipeline import Text2ImPipeline

    asked: list[str] = []

    class SpyCaptions(SyntheticCaptions):
        def __init__(self, seed=0, split="train", *args, **kwargs):
            asked.append(split)
            super().__init__(seed, split, *args, **kwargs)

    class FakePipe:
        def __call__(self, captions, seeds, **_):
            return np.zeros((len(captions), 8, 8, 3), dtype=np.uint8)

        def describe(self):
            return {"fake": True}

    monkeypatch.setattr(synthetic, "SyntheticCaptions", SpyCaptions)
    monkeypatch.setattr(
        Text2ImPipeline, "from_checkpoints", classmethod(lambda cls, *a, **k: FakePipe())
    )
    judge = (lambda images, captions: np.arange(len(captions)) % 2 == 0, lambda i, c: {})
    monkeypatch.setattr(evaluate, "_default_judge", lambda: judge)
    common = ["--n", "4", "--scales", "1,3", "--steps", "2", "--no-timing"]
    assert evaluate.main(common) == 0
    assert asked == ["val"]
    assert json.loads(capsys.readouterr().out)["split"] == "val"
    assert evaluate.main([*common, "--split", "test"]) == 0
    assert asked == ["val", "test"]
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "test" and report["caption_match"]["1"]["n"] == 4
    with pytest.raises(SystemExit):
        evaluate.main([*common, "--split", "train"])
    assert evaluate.split_captions(3, 0, "test")[0] == [
        SyntheticCaptions(0, "test").item(i).caption for i in range(3)
    ]
    with pytest.raises(GlideError, match="held-out split"):
        evaluate.split_captions(3, 0, "train")
