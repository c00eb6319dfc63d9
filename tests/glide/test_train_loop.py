"""The shared training loop on a toy task: resume continuity, EMA, logging, DDP == 1 process.

The toy task (a small conv net regressing each image's mean colour, with dropout so the
per-step RNG handling is exercised) needs no diffusion code; the recipes' own tests are in
test_train_recipes.py.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from glide.errors import CheckpointError, GlideError
from glide.train.config import TrainConfig
from glide.train.data import CaptionedImages, to_model_range
from glide.train.draws import StepDraws
from glide.train.loop import StepContext, Task, train
from glide.train.state import update_ema


def toy_data(n: int = 24, size: int = 8) -> CaptionedImages:
    g = torch.Generator().manual_seed(5)
    images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    captions = tuple(f"caption {i % 7}" for i in range(n))
    return CaptionedImages(images, captions, torch.arange(n))


class Toy(nn.Module):
    def __init__(self, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(torch.relu(self.conv(x))).mean(dim=(2, 3)))


def toy_task(dropout: float = 0.2) -> Task:
    torch.manual_seed(0)

    def losses(wrapped: nn.Module, ctx: StepContext) -> dict[str, torch.Tensor]:
        _, idx = ctx.draws.indices(len(ctx.data))
        noise = ctx.draws.randn(3, 8, 8)
        images, _ = ctx.data.batch(idx)
        x0 = to_model_range(images, ctx.device)
        pred = wrapped(x0 + 0.1 * noise)
        err = (pred - x0.mean(dim=(2, 3))).square().mean(dim=1)
        return {"loss": err, "abs": err.sqrt()}

    def export(ema: nn.Module, folder: Path) -> list[Path]:
        path = folder / "toy.pt"
        torch.save(ema.state_dict(), path)
        return [path]

    return Task("toy", Toy(dropout), toy_data(), losses, export, {"toy": 1})


def cfg(out: Path, **kw) -> TrainConfig:
    base = dict(
        out_dir=str(out),
        steps=6,
        batch_size=8,
        lr=1e-2,
        ema_rate=0.5,
        log_every=2,
        save_every=3,
        progress=False,
        seed=3,
    )
    base.update(kw)
    return TrainConfig(**base)


def final_state(out: Path) -> dict:
    return torch.load(out / "state.pt", weights_only=False)


def test_resume_gives_identical_continuation(tmp_path: Path) -> None:
    train(toy_task(), cfg(tmp_path / "straight"))
    train(toy_task(), cfg(tmp_path / "split", steps=3))
    # a second process picks the run up at step 3 and goes on to 6
    summary = train(toy_task(), cfg(tmp_path / "split", steps=6))
    a, b = final_state(tmp_path / "straight"), final_state(tmp_path / "split")
    assert a["step"] == b["step"] == 6 == summary["steps"]
    for part in ("model", "ema"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    log = [json.loads(line) for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 3, 4, 6]  # 3 closes the first run's window
    assert all({"loss", "abs", "lr", "examples_per_s"} <= set(r) for r in log)
    assert (tmp_path / "split" / "export" / "toy.pt").is_file()
    assert json.loads((tmp_path / "split" / "summary.json").read_text())["steps"] == 6


def test_loss_goes_down_and_ema_lags(tmp_path: Path) -> None:
    train(toy_task(), cfg(tmp_path, steps=40, log_every=10, save_every=40, lr=3e-2))
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < 0.5 * log[0]["loss"]
    state = final_state(tmp_path)
    diff = sum((state["model"][k] - state["ema"][k]).abs().sum() for k in state["model"])
    assert diff > 0


def test_resume_refuses_other_recipe_options(tmp_path: Path) -> None:
    train(toy_task(), cfg(tmp_path, steps=3))
    task = toy_task()
    task.recipe_config = {"toy": 2}
    with pytest.raises(CheckpointError, match="recipe options"):
        train(task, cfg(tmp_path, steps=6))


def test_ema_update_rule() -> None:
    ema, model = nn.Linear(2, 2), nn.Linear(2, 2)
    before = ema.weight.detach().clone()
    update_ema(ema, model, 0.9)
    assert torch.allclose(ema.weight, 0.9 * before + 0.1 * model.weight)


def test_draws_do_not_depend_on_process_count() -> None:
    one = StepDraws(seed=1, step=7, global_batch=8, rank=0, world_size=1)
    parts = [StepDraws(seed=1, step=7, global_batch=8, rank=r, world_size=2) for r in range(2)]
    idx = one.indices(100)[1]
    assert torch.equal(idx, torch.cat([p.indices(100)[1] for p in parts]))
    assert torch.equal(one.randn(2), torch.cat([p.randn(2) for p in parts]))


def test_config_validation_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(GlideError, match="ema_rate"):
        cfg(tmp_path, ema_rate=1.5)
    with pytest.raises(GlideError, match="divisible"):
        os.environ["WORLD_SIZE"], os.environ["RANK"] = "3", "0"
        try:
            train(toy_task(), cfg(tmp_path, batch_size=8))
        finally:
            del os.environ["WORLD_SIZE"], os.environ["RANK"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    train(toy_task(dropout=0.0), cfg(Path(out), steps=2, save_every=2))


def test_two_processes_take_the_same_step_as_one(tmp_path: Path) -> None:
    # dropout masks are per process, so this comparison is made without dropout
    train(toy_task(dropout=0.0), cfg(tmp_path / "one", steps=2, save_every=2))
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path / "two")), nprocs=2, join=True)
    a, b = final_state(tmp_path / "one"), final_state(tmp_path / "two")
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=1e-5, atol=1e-6)
    log_a = (tmp_path / "one" / "log.jsonl").read_text().splitlines()
    log_b = (tmp_path / "two" / "log.jsonl").read_text().splitlines()
    assert json.loads(log_a[-1])["loss"] == pytest.approx(json.loads(log_b[-1])["loss"], rel=1e-5)
