"""Resuming a run is exact or refused (glide.train.state / glide.train.loop).

- a refused resume leaves every file of the run as it was (config.json included);
- every shared option that changes the trajectory is compared (TRAJECTORY_OPTIONS), the
  others are free, --steps only where the cosine decay does not depend on it;
- a torn last line of log.jsonl is dropped with a warning;
- a process SIGKILLed in the middle of a step and resumed ends with the same bytes as an
  uninterrupted run (text2im recipe on a tiny model with dropout, separate processes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from glide.errors import CheckpointError
from glide.train.config import RUN_ONLY_OPTIONS, TRAJECTORY_OPTIONS, TrainConfig
from glide.train.data import CaptionedImages, to_model_range
from glide.train.loop import StepContext, Task, train
from glide.train.state import resume_differences

REPO = Path(__file__).resolve().parents[2]


def toy_data(n: int = 24) -> CaptionedImages:
    g = torch.Generator().manual_seed(5)
    images = torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
    return CaptionedImages(images, tuple(f"caption {i % 7}" for i in range(n)), torch.arange(n))


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(torch.relu(self.conv(x))).mean(dim=(2, 3)))


def toy_task(data: CaptionedImages | None = None) -> Task:
    torch.manual_seed(0)

    def losses(wrapped: nn.Module, ctx: StepContext) -> dict[str, torch.Tensor]:
        _, idx = ctx.draws.indices(len(ctx.data))
        images, _ = ctx.data.batch(idx)
        x0 = to_model_range(images, ctx.device)
        err = (wrapped(x0) - x0.mean(dim=(2, 3))).square().mean(dim=1)
        return {"loss": err}

    def export(ema: nn.Module, folder: Path) -> list[Path]:
        torch.save(ema.state_dict(), folder / "toy.pt")
        return [folder / "toy.pt"]

    return Task("toy", Toy(), data or toy_data(), losses, export, {"toy": 1})


def cfg(out: Path, **kw) -> TrainConfig:
    base = dict(out_dir=str(out), steps=4, batch_size=8, lr=1e-2, ema_rate=0.9, log_every=1,
                save_every=2, progress=False, seed=3)  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_refused_resume_changes_nothing_in_the_run(tmp_path: Path) -> None:
    train(toy_task(), cfg(tmp_path))
    before = snapshot(tmp_path)
    task = toy_task()
    task.recipe_config = {"toy": 2}
    with pytest.raises(CheckpointError, match="recipe options") as err:
        train(task, cfg(tmp_path, steps=6, lr=0.5))
    assert snapshot(tmp_path) == before  # config.json is not rewritten with the rejected options
    assert "recipe options: toy: the run has 1, this command 2" in str(err.value)
    assert "--lr: the run has 0.01, this command 0.5" in str(err.value)  # every difference
    with pytest.raises(CheckpointError, match="--seed: the run has 3, this command 4"):
        train(toy_task(), cfg(tmp_path, steps=6, seed=4))
    assert snapshot(tmp_path) == before


# one changed value per trajectory option (data-source options against a synthetic run)
CHANGES = {
    "seed": 4,
    "data_seed": 1,
    "data_size": 100,
    "captions_per_image": 2,
    "batch_size": 16,
    "ema_rate": 0.95,
    "ema_warmup": False,
    "lr": 2e-2,
    "weight_decay": 0.1,
    "adam_eps": 1e-6,
    "warmup_steps": 1,
    "lr_final_fraction": 0.5,
    "grad_clip": 1.0,
    "amp": True,
    "init": "other.pt",
}


def test_resume_compares_every_trajectory_option(tmp_path: Path) -> None:
    run = cfg(tmp_path, data="synthetic")
    train(toy_task(), run)  # the toy task brings its own data; the options are what is compared
    before = snapshot(tmp_path)
    flags = {o.name: o.flag for o in TRAJECTORY_OPTIONS}
    for name, value in CHANGES.items():
        with pytest.raises(CheckpointError) as err:
            train(toy_task(), run.replace(steps=6, **{name: value}))
        message = str(err.value)
        assert f"{flags[name]}: the run has {getattr(run, name)!r}, this command {value!r}" in (
            message
        ), message
        assert "Repeat the run's options" in message and message.count("the run has") == 1
    assert flags["seed"] == "--seed" and "--no-ema-warmup" in flags["ema_warmup"]
    assert snapshot(tmp_path) == before
    # a folder run compares --image-fit instead of the synthetic set's options
    folder = run.to_dict() | {"data": "/data/coco"}
    assert resume_differences(
        {"train": folder}, {"train": folder | {"data_seed": 9, "image_fit": "squash"}}, 4
    ) == ["--image-fit: the run has 'center-crop', this command 'squash'"]
    # the options that do not change the computation are free
    free = dict(out_dir="/elsewhere", device="cuda:1", threads=1, log_every=3, save_every=5,
                snapshot_every=2, export_dir="/x", progress=True, steps=9)  # fmt: skip
    assert set(free) == set(RUN_ONLY_OPTIONS)
    stored = {"train": run.to_dict()}
    assert resume_differences(stored, {"train": run.to_dict() | free}, 4) == []
    summary = train(toy_task(), run.replace(log_every=3, save_every=5, steps=6,
                                            export_dir=str(tmp_path / "elsewhere")))  # fmt: skip
    assert summary["steps"] == 6 and (tmp_path / "elsewhere" / "toy.pt").is_file()


def test_every_shared_option_is_classified() -> None:
    names = [o.name for o in TRAJECTORY_OPTIONS]
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    assert sorted(names + list(RUN_ONLY_OPTIONS)) == sorted(fields)
    assert set(CHANGES) | {"data", "image_fit"} == set(names)


def test_steps_change_is_refused_only_where_the_decay_depends_on_it(tmp_path: Path) -> None:
    # constant rate: extending a finished run is the uninterrupted longer run
    train(toy_task(), cfg(tmp_path / "const"))
    train(toy_task(), cfg(tmp_path / "const", steps=7))
    train(toy_task(), cfg(tmp_path / "const7", steps=7))
    a = torch.load(tmp_path / "const" / "state.pt", weights_only=False)
    b = torch.load(tmp_path / "const7" / "state.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    # cosine decay: steps 1..3 already used the 4-step schedule
    decay = dict(warmup_steps=1, lr_final_fraction=0.1)
    train(toy_task(), cfg(tmp_path / "cos", **decay))
    with pytest.raises(CheckpointError, match=r"--steps: the run has 4, this command 8, .* 1\.\.3"):
        train(toy_task(), cfg(tmp_path / "cos", steps=8, **decay))
    # ... but a state still inside the warm-up may change it
    train(toy_task(), cfg(tmp_path / "warm", steps=1, warmup_steps=2, lr_final_fraction=0.1))
    train(toy_task(), cfg(tmp_path / "warm", steps=5, warmup_steps=2, lr_final_fraction=0.1))


def test_run_from_before_an_option_resumes_with_its_old_behaviour(tmp_path: Path) -> None:
    train(toy_task(), cfg(tmp_path, ema_warmup=False))
    state = torch.load(tmp_path / "state.pt", weights_only=False)
    del state["configs"]["train"]["ema_warmup"]  # as written before the option existed
    for key in ("data", "run"):
        del state["configs"][key]
    torch.save(state, tmp_path / "state.pt")
    with pytest.raises(
        CheckpointError, match=r"warm-up \(off: --no-ema-warmup\): the run has False"
    ):
        train(toy_task(), cfg(tmp_path, steps=6))
    assert train(toy_task(), cfg(tmp_path, steps=6, ema_warmup=False))["steps"] == 6


def test_other_data_or_process_count_is_refused(tmp_path: Path) -> None:
    train(toy_task(), cfg(tmp_path))
    other = toy_data()
    other.images[0, 0, 0, 0] ^= 1
    with pytest.raises(CheckpointError, match="data: the run trained on .*changed"):
        train(toy_task(other), cfg(tmp_path, steps=6))
    configs = torch.load(tmp_path / "state.pt", weights_only=False)["configs"]
    assert configs["run"] == {"processes": 1, "dropout": True}
    two = configs | {"run": {"processes": 2, "dropout": True}}
    assert any("processes: the run used 1" in d for d in resume_differences(configs, two, 4))
    no_dropout = {k: v | {"dropout": False} if k == "run" else v for k, v in configs.items()}
    two = no_dropout | {"run": {"processes": 2, "dropout": False}}
    assert resume_differences(no_dropout, two, 4) == []  # only float summation order differs


def test_torn_last_log_line_is_dropped_with_a_warning(tmp_path: Path) -> None:
    train(toy_task(), cfg(tmp_path))
    with open(tmp_path / "log.jsonl", "a") as log:
        log.write('{"step": 5, "lr": 0.01, "lo')  # killed while writing the next line
    with pytest.warns(UserWarning, match="torn last line"):
        train(toy_task(), cfg(tmp_path, steps=6))
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4, 5, 6]
    # a broken line that is not the last one is an error that names it
    lines[1] = "garbage"
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(CheckpointError, match="line 2 is not a log record"):
        train(toy_task(), cfg(tmp_path, steps=6))


# ----- kill -9 in the middle of a step, resume, compare with an uninterrupted run -----------

DRIVER = r"""
import os, signal, sys
from glide.train import text2im
from glide.train.config import TrainConfig
from glide.train.loop import train
from glide.train.presets import unet_options

for job in sys.argv[1:]:
    out, kill_at = job.rsplit(":", 1)
    kill_at = int(kill_at)
    opts = text2im.Text2ImOptions(model={**unet_options("tiny-base"), "dropout": 0.1})
    cfg = TrainConfig(out_dir=out, data="synthetic", data_size=16, steps=6, batch_size=4,
                      lr=1e-3, warmup_steps=2, lr_final_fraction=0.1, ema_rate=0.99,
                      log_every=1, save_every=2, threads=1, progress=False, seed=0)
    task = text2im.make_task(cfg, opts)
    inner = task.losses

    def losses(wrapped, ctx, inner=inner, kill_at=kill_at, out=out):
        result = inner(wrapped, ctx)  # the forward pass of this step is done
        if ctx.step == kill_at:  # die before its backward, optimizer and EMA updates
            with open(os.path.join(out, "log.jsonl"), "a") as log:
                log.write('{"step": 9, "lr": 0.001, "loss": 0.0')  # and mid log-line
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    task.losses = losses
    train(task, cfg)
"""


def test_killed_mid_step_then_resumed_equals_uninterrupted_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}

    def run(*jobs: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", DRIVER, *jobs], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    killed = run(f"{tmp_path / 'split'}:3")
    assert killed.returncode == -9, killed.stderr[-2000:]
    state = torch.load(tmp_path / "split" / "state.pt", weights_only=False)
    assert state["step"] == 2  # the last save; steps 2 and 3 are redone
    assert not (tmp_path / "split" / "export").exists()

    done = run(f"{tmp_path / 'split'}:-1", f"{tmp_path / 'straight'}:-1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torn last line" in done.stderr

    a = torch.load(tmp_path / "straight" / "state.pt", weights_only=False)
    b = torch.load(tmp_path / "split" / "state.pt", weights_only=False)
    assert a["step"] == b["step"] == 6
    for part in ("model", "ema"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    for k, v in a["optimizer"]["state"].items():
        for name, t in v.items():
            assert torch.equal(t, b["optimizer"]["state"][k][name]), (k, name)
    same = (tmp_path / "straight" / "export" / "base.pt").read_bytes()
    assert (tmp_path / "split" / "export" / "base.pt").read_bytes() == same

    def losses(out: str) -> list[tuple]:
        lines = (tmp_path / out / "log.jsonl").read_text().splitlines()
        return [(r["step"], r["lr"], r["loss"], r["mse"]) for r in map(json.loads, lines)]

    assert losses("split") == losses("straight") and len(losses("straight")) == 6
