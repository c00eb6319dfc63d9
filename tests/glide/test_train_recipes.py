"""The GLIDE training recipes on tiny models (16x16 / 32x32, seconds each).

Covers: the loss going down, the caption-dropout rate, the inpainting zero-init equivalence,
exports that load with glide.checkpoints, CLI errors, and 2 processes (gloo) taking the same
optimizer step as 1 process with the full batch, for the diffusion and the contrastive losses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import glide
from glide.checkpoints import load_checkpoint, load_clip
from glide.train import clip as clip_recipe
from glide.train import inpaint, text2im, upsample
from glide.train.config import TrainConfig
from glide.train.data import generate_synthetic
from glide.train.distributed import DistInfo
from glide.train.draws import StepDraws
from glide.train.loop import StepContext, train
from glide.train.presets import clip_options, unet_options

REPO = Path(__file__).resolve().parents[2]


def tcfg(out: Path, **kw) -> TrainConfig:
    base = dict(
        out_dir=str(out),
        steps=4,
        batch_size=8,
        lr=1e-3,
        ema_rate=0.9,
        log_every=1,
        save_every=100,
        progress=False,
        seed=0,
        data_size=64,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data16():
    return generate_synthetic(0, 64, 16, progress=False)


def read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_text2im_loss_decreases_and_export_loads(tmp_path: Path, data16) -> None:
    opts = text2im.Text2ImOptions(model=unet_options("tiny-base"))
    cfg = tcfg(tmp_path, steps=40)
    summary = train(text2im.make_task(cfg, opts, data16), cfg)
    losses = [r["loss"] for r in read_log(tmp_path)]
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:10]) / 10, losses
    exported = tmp_path / "export" / "base.pt"
    assert str(exported) in summary["exported"]
    model = load_checkpoint(exported)  # architecture from export/glide_options.json
    ema = torch.load(tmp_path / "state.pt", weights_only=False)["ema"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, ema[k]), k
    assert model.config == glide.UNetConfig.from_options(unet_options("tiny-base"))


def test_caption_dropout_rate(data16) -> None:
    opts = text2im.Text2ImOptions(model=unet_options("tiny-base"), uncond_prob=0.2)
    cfg = tcfg("unused", batch_size=128)
    task = text2im.make_task(cfg, opts, data16)
    empty_rows = []

    def spy(x, t, tokens, mask):
        empty_rows.append((~mask).all(dim=1))
        return torch.zeros(x.shape[0], 6, *x.shape[2:])

    for step in range(25):
        draws = StepDraws(0, step, 128, 0, 1)
        task.losses(spy, StepContext(step, draws, data16, torch.device("cpu"), DistInfo()))
    rate = torch.cat(empty_rows).float().mean().item()
    assert abs(rate - 0.2) < 0.025, rate  # 3200 draws: sd 0.007


def test_high_t_emphasis_and_weight(data16) -> None:
    """--t-high-frac redraws that share of t from [--t-high-from, T); --high-t-weight scales
    the eps MSE by clip(1/SNR, 1, W); the defaults are the paper's uniform, unweighted loss."""
    seen = []

    def spy(x, t, tokens, mask):
        seen.append(t.clone())
        return torch.zeros(x.shape[0], 6, *x.shape[2:])

    def run(**kw):
        opts = text2im.Text2ImOptions(model=unet_options("tiny-base"), **kw)
        task = text2im.make_task(tcfg("unused", batch_size=256), opts, data16)
        seen.clear()
        out = [
            task.losses(spy, StepContext(s, StepDraws(0, s, 256, 0, 1), data16,
                                         torch.device("cpu"), DistInfo()))
            for s in range(8)
        ]  # fmt: skip
        return torch.cat(seen), out

    steps = unet_options("tiny-base")["diffusion_steps"]
    t_from = steps - steps // 10
    t_uniform, plain = run()
    t_high, _ = run(t_high_frac=0.5, t_high_from=t_from)
    assert abs((t_uniform >= t_from).float().mean().item() - 0.1) < 0.03
    # P(t >= t_from) = 0.5 + 0.5 * 0.1 = 0.55; 2048 draws: sd 0.011
    assert abs((t_high >= t_from).float().mean().item() - 0.55) < 0.045
    assert t_high.max().item() < steps
    with pytest.raises(glide.GlideError, match="--t-high-from"):
        run(t_high_frac=0.5, t_high_from=steps)
    _, weighted = run(high_t_weight=100.0)
    for a, b in zip(plain, weighted, strict=True):
        assert torch.equal(a["mse"], b["mse"])
        ratio = (b["loss"] - a["loss"]) / a["mse"] + 1.0
        assert ratio.min() >= 1.0 - 1e-4 and ratio.max() <= 100.0 + 1e-2
        assert ratio.max() > 50.0  # some draws near t = T get the cap
    with pytest.raises(glide.GlideError, match="--t-high-frac"):
        text2im.Text2ImOptions(model=unet_options("tiny-base"), t_high_frac=1.0)
    with pytest.raises(glide.GlideError, match="--high-t-weight"):
        text2im.Text2ImOptions(model=unet_options("tiny-base"), high_t_weight=0.5)


def test_inpaint_model_starts_equal_to_base() -> None:
    torch.manual_seed(0)
    base = glide.build_model(unet_options("tiny-base"))
    with torch.no_grad():  # the output conv starts at zero: perturb everything
        for p in base.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model = inpaint.inpaint_model_from_base(base)
    assert model.config.inpaint and model.config.in_channels == 7
    w = model.state_dict()[inpaint.INPUT_CONV]
    assert w[:, 3:].abs().max() == 0
    x, t = torch.randn(3, 3, 16, 16), torch.tensor([5, 50, 99])
    tokens, mask = glide.get_glide_tokenizer().encode_batch(["a red circle", "", "x"], 20)
    image, keep = torch.rand(3, 3, 16, 16) * 2 - 1, (torch.rand(3, 1, 16, 16) > 0.5).float()
    with torch.no_grad():
        want = base(x, t, tokens=tokens, mask=mask)
        got = model(x, t, tokens=tokens, mask=mask, inpaint_image=image, inpaint_mask=keep)
    assert want.abs().max() > 0.1
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_inpaint_recipe_fine_tunes_an_exported_base(tmp_path: Path, data16) -> None:
    cfg = tcfg(tmp_path / "base", steps=2)
    train(
        text2im.make_task(cfg, text2im.Text2ImOptions(model=unet_options("tiny-base")), data16), cfg
    )
    base_file = tmp_path / "base" / "export" / "base.pt"
    status = inpaint.main(
        [
            "--out",
            str(tmp_path / "inp"),
            "--init",
            str(base_file),
            "--data",
            "synthetic",
            "--data-size",
            "32",
            "--steps",
            "3",
            "--batch-size",
            "4",
            "--no-progress",
            "--export-dir",
            str(tmp_path / "base" / "export"),
        ]
    )
    assert status == 0
    model = load_checkpoint("base-inpaint", checkpoints_dir=tmp_path / "base" / "export")
    assert model.config.inpaint
    options = json.loads((tmp_path / "base" / "export" / "glide_options.json").read_text())
    assert set(options) == {"base", "base-inpaint"}


def test_upsample_recipe_runs_and_exports(tmp_path: Path) -> None:
    data32 = generate_synthetic(1, 16, 32, progress=False)
    opts = upsample.UpsampleOptions(model=unet_options("tiny-upsample"), low_res=16)
    cfg = tcfg(tmp_path, steps=3, batch_size=4)
    train(upsample.make_task(cfg, opts, data32), cfg)
    model = load_checkpoint(tmp_path / "export" / "upsample.pt")
    assert model.config.super_res
    low = upsample.low_res_of(torch.zeros(2, 3, 32, 32), 16)
    assert low.shape == (2, 3, 16, 16)
    # random crops: whole-image model trained on patches with the matching low-res patches
    opts = upsample.UpsampleOptions(model=unet_options("tiny-upsample"), low_res=16, crop=16)
    cfg = tcfg(tmp_path / "crop", steps=2, batch_size=4)
    train(upsample.make_task(cfg, opts, data32), cfg)
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    crops = upsample.random_crops(x, 16, torch.tensor([[0.0, 0.0], [0.999, 0.5]]))
    assert torch.equal(crops[0], x[0, :, :16, :16])
    assert torch.equal(crops[1], x[1, :, 16:, 8:24])


def test_clip_recipe_learns_and_exports(tmp_path: Path, data16) -> None:
    opts = clip_recipe.ClipOptions(config=clip_options("tiny-clip"))
    cfg = tcfg(tmp_path, steps=30, batch_size=16, lr=2e-3)
    train(clip_recipe.make_task(cfg, opts, data16), cfg)
    log = read_log(tmp_path)
    assert sum(r["loss"] for r in log[-8:]) < sum(r["loss"] for r in log[:8])
    clip = load_clip(tmp_path / "export")
    emb = clip.caption_embeddings(["a red circle"])
    assert emb.shape == (1, 16) and torch.isfinite(emb).all()


def test_contrastive_soft_targets() -> None:
    emb = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    keys = torch.tensor([0, 1, 0, 2])
    out = clip_recipe.contrastive_losses(emb, emb, torch.tensor(0.0), keys)
    assert out["loss"].shape == (4,) and torch.isfinite(out["loss"]).all()
    # perfectly aligned, distinct captions at a huge scale: loss -> 0, accuracy 1
    eye = torch.eye(3)
    out = clip_recipe.contrastive_losses(eye, eye, torch.tensor(10.0), torch.arange(3))
    assert out["loss"].max() < 1e-3 and out["acc"].min() == 1


def test_cli_reports_bad_options(tmp_path: Path, capsys) -> None:
    assert text2im.main(["--out", str(tmp_path), "--uncond-prob", "1.5"]) == 2
    assert "--uncond-prob" in capsys.readouterr().err
    assert text2im.main(["--out", str(tmp_path), "--set", "num_channels"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert text2im.main(["--out", str(tmp_path), "--model", "nope"]) == 2
    assert "embedded-base" in capsys.readouterr().err


def test_flat_colour_warning_names_the_fix() -> None:
    from glide.train.diffusion_task import flat_colour_warning

    narrow = glide.UNetConfig.from_options(unet_options("tiny-base"))  # 32 channels
    message = flat_colour_warning(narrow)
    assert message is not None and "32 channels" in message and "--set num_channels=64" in message
    wide = glide.UNetConfig.from_options({**unet_options("tiny-base"), "num_channels": 64})
    assert flat_colour_warning(wide) is None


@pytest.mark.parametrize("width, warned", [(32, True), (64, False)])
def test_text2im_cli_warns_about_one_channel_per_group(tmp_path: Path, capsys, width, warned):
    argv = [
        "--out",
        str(tmp_path),
        "--model",
        "tiny-base",
        "--set",
        f"num_channels={width}",
        "--data",
        "synthetic",
        "--data-size",
        "8",
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--threads",
        "1",
        "--no-progress",
    ]
    assert text2im.main(argv) == 0
    captured = capsys.readouterr()
    assert ("one channel per GroupNorm group" in captured.err) is warned
    assert "done: 1 steps" in captured.out


# ----- two processes == one process with the full batch -------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_text2im_torchrun_two_processes_equal_one(tmp_path: Path) -> None:
    args = [
        "-m",
        "glide.train.text2im",
        "--model",
        "tiny-base",
        "--data-size",
        "32",
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--no-progress",
        "--threads",
        "1",
        "--lr",
        "1e-3",
        # Adam's first steps are lr * g / (|g| + eps): with the default eps a near-zero gradient
        # whose sign flips under a different summation order moves by 2 * lr; a larger eps makes
        # the step proportional to tiny gradients, so float tolerance applies to the comparison.
        "--adam-eps",
        "1e-4",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        [sys.executable, *args, "--out", str(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(_free_port()),
            *args,
            "--out",
            str(tmp_path / "two"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    a = torch.load(tmp_path / "one" / "state.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "two" / "state.pt", weights_only=False)["model"]
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5, msg=k)
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["processes"] == 2


def _clip_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    data = generate_synthetic(0, 64, 16, progress=False)
    cfg = tcfg(Path(out), steps=2, batch_size=8, lr=1e-3)
    train(clip_recipe.make_task(cfg, clip_recipe.ClipOptions(clip_options("tiny-clip")), data), cfg)


def test_clip_two_processes_equal_one(tmp_path: Path, data16) -> None:
    cfg = tcfg(tmp_path / "one", steps=2, batch_size=8, lr=1e-3)
    train(
        clip_recipe.make_task(cfg, clip_recipe.ClipOptions(clip_options("tiny-clip")), data16), cfg
    )
    mp.spawn(_clip_worker, args=(2, _free_port(), str(tmp_path / "two")), nprocs=2, join=True)
    a = torch.load(tmp_path / "one" / "state.pt", weights_only=False)
    b = torch.load(tmp_path / "two" / "state.pt", weights_only=False)
    moved = 0
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=1e-4, atol=1e-5, msg=k)
        moved += int(not torch.equal(a["model"][k], a["ema"][k]))
    assert moved > 0
    assert read_log(tmp_path / "one")[-1]["loss"] == pytest.approx(
        read_log(tmp_path / "two")[-1]["loss"], rel=1e-4
    )
