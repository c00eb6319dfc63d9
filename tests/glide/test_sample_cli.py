"""The sampling CLIs: python -m glide.cli.sample / glide.cli.inpaint on a tiny checkpoints
folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import glide
from glide import inpaint as inpaint_cli
from glide import sample as sample_cli
from glide.checkpoints import save_checkpoint, write_options_file


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory, reference_dir):
    folder = tmp_path_factory.mktemp("ckpts")
    options = json.loads((reference_dir / "golden_small" / "config.json").read_text())["options"]
    base = glide.build_model(options)
    base.load_state_dict(
        torch.load(reference_dir / "golden_small" / "state_dict.pt", weights_only=True)
    )
    save_checkpoint(base, folder / "base.pt")
    inpaint = glide.build_model(dict(options, inpaint=True))
    save_checkpoint(inpaint, folder / "base_inpaint.pt")
    write_options_file(folder, {"base": options, "base-inpaint": dict(options, inpaint=True)})
    return folder


def test_sample_cli_writes_pngs_and_sidecars(ckpt_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--prompt", "a red cube", "--prompt", "a blue ball", "--batch-size", "2",
            "--steps", "3", "--seed", "10", "--checkpoints", str(ckpt_dir), "--out", str(out),
            "--no-progress"]  # fmt: skip
    assert sample_cli.main(argv) == 0
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == [
        "0000_a_red_cube_seed10.png", "0001_a_red_cube_seed11.png",
        "0002_a_blue_ball_seed12.png", "0003_a_blue_ball_seed13.png",
    ]  # fmt: skip
    meta = json.loads(pngs[2].with_suffix(".json").read_text())
    assert meta["caption"] == "a blue ball" and meta["seed"] == 12
    assert meta["settings"]["steps"] == "3" and meta["settings"]["scale"] == 3.0
    assert meta["settings"]["guidance"] == "cfg" and meta["command"][:3] == [
        "python", "-m", "glide.cli.sample",
    ]  # fmt: skip
    assert meta["pipeline"]["base"]["sha256"]
    image = np.asarray(Image.open(pngs[2]))
    assert image.shape == (32, 32, 3)
    # the same sample alone (its own seed) is the same image: per-sample seeds
    again = tmp_path / "again"
    argv = ["--prompt", "a blue ball", "--steps", "3", "--seed", "12", "--checkpoints",
            str(ckpt_dir), "--out", str(again), "--no-progress"]  # fmt: skip
    assert sample_cli.main(argv) == 0
    alone = np.asarray(Image.open(again / "0000_a_blue_ball_seed12.png"))
    assert np.abs(alone.astype(int) - image.astype(int)).max() <= 1
    assert str(pngs[0]) in capsys.readouterr().out


def test_help_explains_every_option(capsys):
    assert sample_cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    for option in [
        "--prompt",
        "--guidance",
        "--scale",
        "--steps",
        "--upsample",
        "--batch-size",
        "--seed",
        "--checkpoints",
        "--out",
        "--sampler",
        "--upsample-temp",
    ]:
        assert option in text
    assert inpaint_cli.main(["--help"]) == 0
    assert "white = regenerate" in capsys.readouterr().out


def test_cli_errors(ckpt_dir, tmp_path, capsys, monkeypatch):
    import glide.embedded

    monkeypatch.setattr(glide.embedded, "EMBEDDED_DIR", tmp_path / "none")
    assert sample_cli.main(["--prompt", "x", "--out", str(tmp_path)]) == 2
    assert "error: the embedded default" in capsys.readouterr().err
    assert (
        sample_cli.main(
            [
                "--prompt",
                "x",
                "--steps",
                "abc",
                "--checkpoints",
                str(ckpt_dir),
                "--out",
                str(tmp_path),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "steps='abc'" in capsys.readouterr().err
    assert sample_cli.main(["--prompt", "x", "--upsample", "--checkpoints", str(ckpt_dir)]) == 2
    assert "upsample.pt is not in" in capsys.readouterr().err
    assert sample_cli.main(["--guidance", "magic", "--prompt", "x"]) == 2
    assert sample_cli.main(["--prompt", "x", "--batch-size", "0"]) == 2


def test_inpaint_cli(ckpt_dir, tmp_path, capsys):
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), dtype=np.uint8)
    mask[8:20, 4:28] = 255  # white = regenerate
    Image.fromarray(source).save(tmp_path / "in.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "out"
    argv = ["--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"),
            "--prompt", "a hat", "--steps", "3", "--checkpoints", str(ckpt_dir),
            "--out", str(out), "--no-progress", "--batch-size", "2"]  # fmt: skip
    assert inpaint_cli.main(argv) == 0
    result = np.asarray(Image.open(out / "0000_a_hat_seed0.png"))
    keep = mask < 128
    assert np.array_equal(result[keep], source[keep])
    meta = json.loads((out / "0001_a_hat_seed1.json").read_text())
    assert meta["settings"]["scale"] == 5.0 and meta["pipeline"]["base"]["options"]["inpaint"]
    # bad inputs: wrong-size mask, all-keep mask, missing file
    Image.fromarray(mask[:16]).save(tmp_path / "small.png")
    bad = argv.copy()
    bad[3] = str(tmp_path / "small.png")
    assert inpaint_cli.main(bad) == 2
    assert "give a mask of the image's size" in capsys.readouterr().err
    Image.fromarray(np.zeros_like(mask)).save(tmp_path / "black.png")
    bad[3] = str(tmp_path / "black.png")
    assert inpaint_cli.main(bad) == 2
    assert "keeps every pixel" in capsys.readouterr().err
    bad[3] = str(tmp_path / "missing.png")
    assert inpaint_cli.main(bad) == 2
    assert "does not exist" in capsys.readouterr().err


def test_clis_run_on_the_embedded_default(tmp_path):
    # no --checkpoints: the shipped small stack in glide/assets/embedded
    from glide.embedded import EMBEDDED_DIR
    from glide.io import sha256_file

    caption = "a small red circle on the left, white background"
    out = tmp_path / "sample"
    argv = ["--prompt", caption, "--steps", "2", "--seed", "3", "--out", str(out), "--no-progress"]
    assert sample_cli.main(argv) == 0
    (png,) = out.glob("*.png")
    assert np.asarray(Image.open(png)).shape == (64, 64, 3)
    meta = json.loads(png.with_suffix(".json").read_text())
    assert meta["pipeline"]["base"]["sha256"] == sha256_file(EMBEDDED_DIR / "base.pt")

    source = np.asarray(Image.open(png))
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[16:48, 16:48] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    argv = ["--image", str(png), "--mask", str(tmp_path / "mask.png"), "--prompt", caption,
            "--steps", "2", "--out", str(tmp_path / "edit"), "--no-progress"]  # fmt: skip
    assert inpaint_cli.main(argv) == 0
    (edited,) = (tmp_path / "edit").glob("*.png")
    result = np.asarray(Image.open(edited))
    assert np.array_equal(result[mask < 128], source[mask < 128])
    edit_meta = json.loads(edited.with_suffix(".json").read_text())
    assert edit_meta["pipeline"]["base"]["sha256"] == sha256_file(EMBEDDED_DIR / "base_inpaint.pt")
