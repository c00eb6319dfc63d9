"""The upsample-inpaint recipe (glide.train.upsample_inpaint), tested like the base-inpaint one:
zero-initialised extra channels (the model starts as the upsampler), what the model is fed, a
fine-tuning run from an exported upsampler whose export loads, and the refusals that point
each model to its recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import glide
from glide.checkpoints import load_checkpoint
from glide.train import inpaint, upsample, upsample_inpaint
from glide.train.config import TrainConfig
from glide.train.data import generate_synthetic
from glide.train.distributed import DistInfo
from glide.train.draws import StepDraws
from glide.train.loop import StepContext, train
from glide.train.presets import unet_options


def tcfg(out: Path, **kw) -> TrainConfig:
    base = dict(out_dir=str(out), steps=2, batch_size=4, lr=1e-3, ema_rate=0.9, log_every=1,
                save_every=100, progress=False, data_size=16)  # fmt: skip
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def upsampler_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("up")
    opts = upsample.UpsampleOptions(model=unet_options("tiny-upsample"), low_res=16)
    cfg = tcfg(out)
    train(upsample.make_task(cfg, opts, generate_synthetic(1, 8, 32, progress=False)), cfg)
    return out / "export" / "upsample.pt"


def test_upsample_inpaint_model_starts_equal_to_the_upsampler() -> None:
    torch.manual_seed(0)
    up = glide.build_model(unet_options("tiny-upsample"))
    with torch.no_grad():  # the output conv starts at zero: perturb everything
        for p in up.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model = inpaint.inpaint_model_from_base(up)
    assert model.config.inpaint and model.config.super_res and model.config.in_channels == 10
    assert model.config.model_class == "SuperResInpaintText2ImUnet"
    w, w_up = model.state_dict()[inpaint.INPUT_CONV], up.state_dict()[inpaint.INPUT_CONV]
    assert w[:, 3:7].abs().max() == 0  # image * mask, mask: zero
    assert torch.equal(w[:, :3], w_up[:, :3]) and torch.equal(w[:, 7:], w_up[:, 3:])
    x, t = torch.randn(3, 3, 32, 32), torch.tensor([5, 50, 99])
    low = torch.rand(3, 3, 16, 16) * 2 - 1
    tokens, mask = glide.get_glide_tokenizer().encode_batch(["a red circle", "", "x"], 20)
    image, keep = torch.rand(3, 3, 32, 32) * 2 - 1, (torch.rand(3, 1, 32, 32) > 0.5).float()
    with torch.no_grad():
        want = up(x, t, tokens=tokens, mask=mask, low_res=low)
        got = model(x, t, tokens=tokens, mask=mask, low_res=low, inpaint_image=image,
                    inpaint_mask=keep)  # fmt: skip
    assert want.abs().max() > 0.1
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_the_model_sees_masks_and_the_low_res_image(upsampler_file: Path) -> None:
    data = generate_synthetic(2, 8, 32, progress=False)
    opts = upsample_inpaint.UpsampleInpaintOptions(init=str(upsampler_file), low_res=16)
    task = upsample_inpaint.make_task(tcfg("unused", batch_size=8), opts, data)
    assert task.recipe_config["model"]["inpaint"] and task.recipe_config["low_res"] == 16
    seen = []

    def spy(x, t, tokens, mask, low_res, inpaint_image, inpaint_mask):
        seen.append((x.shape, low_res, inpaint_image, inpaint_mask))
        return torch.zeros(x.shape[0], 6, *x.shape[2:])

    task.losses(spy, StepContext(0, StepDraws(0, 0, 8, 0, 1), data, torch.device("cpu"),
                                 DistInfo()))  # fmt: skip
    shape, low, image, keep = seen[0]
    assert shape == (8, 3, 32, 32) and keep.shape == (8, 1, 32, 32)
    assert set(keep.unique().tolist()) == {0.0, 1.0}
    assert 0.05 < (keep == 0).float().mean() < 0.8  # rectangles erased, most pixels kept
    torch.testing.assert_close(low, upsample.low_res_of(image, 16))


def test_recipe_fine_tunes_an_exported_upsampler(tmp_path: Path, upsampler_file: Path) -> None:
    export = upsampler_file.parent
    argv = ["--out", str(tmp_path / "run"), "--init", str(upsampler_file), "--low-res", "16",
            "--crop", "16", "--data-size", "8", "--steps", "2", "--batch-size", "2",
            "--no-progress", "--export-dir", str(export)]  # fmt: skip
    assert upsample_inpaint.main(argv) == 0
    model = load_checkpoint("upsample-inpaint", checkpoints_dir=export)
    assert model.config.inpaint and model.config.super_res and model.config.image_size == 32
    assert (export / "upsample_inpaint.pt").is_file()
    options = json.loads((export / "glide_options.json").read_text())
    assert set(options) == {"upsample", "upsample-inpaint"}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["recipe_name"] == "upsample-inpaint" and config["recipe"]["crop"] == 16
    # continue fine-tuning from the inpainting upsampler itself
    argv2 = [*argv[:3], str(export / "upsample_inpaint.pt"), *argv[4:]]
    argv2[1] = str(tmp_path / "run2")
    assert upsample_inpaint.main(argv2) == 0


def test_each_recipe_points_to_the_right_one(tmp_path: Path, upsampler_file: Path, capsys):
    out = ["--out", str(tmp_path / "x"), "--no-progress"]
    assert inpaint.main([*out, "--init", str(upsampler_file)]) == 2
    assert "glide.train.upsample_inpaint" in capsys.readouterr().err
    base = glide.build_model(unet_options("tiny-base"))
    glide.checkpoints.save_checkpoint(base, tmp_path / "base.pt")
    glide.checkpoints.write_options_file(tmp_path, {"base": base.config.to_options()})
    assert upsample_inpaint.main([*out, "--init", str(tmp_path / "base.pt")]) == 2
    assert "glide.train.inpaint" in capsys.readouterr().err
    with pytest.raises(glide.GlideError, match="--mask-min-frac"):
        upsample_inpaint.UpsampleInpaintOptions(init="x", mask_min_frac=0.0)
