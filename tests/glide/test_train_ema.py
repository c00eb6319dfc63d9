"""EMA warm-up: the exported EMA of a short run holds no measurable share of the initial weights.

Measurement: the EMA is linear in the weights it averages, ``ema_n = w0 * ema_0 + sum_s w_s *
theta_s``. Two runs take exactly the same steps (the model is set to the same weights before
its first update) but their EMA copies start from different values: the normal initial
weights, or a marker of 1000 everywhere. The difference of the exported EMAs divided by the
difference of the starting values is ``w0``, the share of the initial weights, measured to
about 1e-9.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from glide.train.config import TrainConfig
from glide.train.data import CaptionedImages, to_model_range
from glide.train.loop import StepContext, Task, train

MARKER = 1000.0


def data() -> CaptionedImages:
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (16, 3, 4, 4), generator=g, dtype=torch.uint8)
    return CaptionedImages(images, tuple(f"c{i}" for i in range(16)), torch.arange(16))


def exported_ema(out: Path, *, marker: bool, **kw) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 3))
    start = {k: v.clone() for k, v in model.state_dict().items()}
    if marker:  # the EMA copy is taken from these values; the model leaves them at step 0
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(MARKER)

    def losses(wrapped: nn.Module, ctx: StepContext) -> dict[str, torch.Tensor]:
        if ctx.step == 0:
            wrapped.load_state_dict(start)  # in place: the optimizer keeps its parameters
        _, idx = ctx.draws.indices(len(ctx.data))
        x0 = to_model_range(ctx.data.batch(idx)[0], ctx.device)
        return {"loss": (wrapped(x0) - x0.mean(dim=(2, 3))).square().mean(dim=1)}

    def export(ema: nn.Module, folder: Path) -> list[Path]:
        torch.save(ema.state_dict(), folder / "ema.pt")
        return [folder / "ema.pt"]

    cfg = TrainConfig(out_dir=str(out), batch_size=4, lr=1e-2, log_every=10, save_every=1000,
                      progress=False, **kw)  # fmt: skip
    train(Task("ema", model, data(), losses, export), cfg)
    return {"ema": torch.load(out / "export" / "ema.pt"), "start": start}


def init_share(tmp_path: Path, **kw) -> float:
    plain = exported_ema(tmp_path / "plain", marker=False, **kw)
    marked = exported_ema(tmp_path / "marked", marker=True, **kw)
    shares = [
        ((marked["ema"][k].double() - plain["ema"][k].double()) / (MARKER - plain["start"][k]))
        .abs()
        .max()
        .item()
        for k in plain["ema"]
    ]
    return max(shares)


def test_exported_ema_of_a_short_run_holds_no_initial_weights(tmp_path: Path) -> None:
    # 60 steps at the text2im default rate 0.999: a constant decay would keep 0.999**60 = 94%
    share = init_share(tmp_path, steps=60, ema_rate=0.999)
    assert share < 1e-6, share  # exact value 1 / C(69, 9) = 1.4e-11


def test_without_warmup_the_share_is_rate_to_the_steps(tmp_path: Path) -> None:
    """The measurement itself: --no-ema-warmup (the old rule) keeps ema_rate ** steps."""
    share = init_share(tmp_path, steps=60, ema_rate=0.999, ema_warmup=False)
    assert share == pytest.approx(0.999**60, rel=1e-5)


def test_warmup_schedule() -> None:
    cfg = TrainConfig(out_dir="x", ema_rate=0.999)
    assert cfg.ema_rate_at(0) == pytest.approx(0.1)
    assert cfg.ema_rate_at(90) == pytest.approx(91 / 100)
    assert cfg.ema_rate_at(8990) == pytest.approx(0.999) and cfg.ema_rate_at(10**6) == 0.999
    assert cfg.replace(ema_warmup=False).ema_rate_at(0) == 0.999
    # share of the initial weights after the text2im defaults (2,000 steps at 0.999)
    share = math.prod(cfg.ema_rate_at(s) for s in range(2000))
    assert share == pytest.approx(1 / math.comb(2009, 9), rel=1e-9) and share < 1e-20
    assert math.prod(0.999 for _ in range(2000)) == pytest.approx(0.1352, abs=1e-4)
