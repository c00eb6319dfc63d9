"""The options every training recipe shares (:class:`TrainConfig`), frozen and validated.

Recipe-specific options (model size, caption dropout, masks, ...) live in each recipe module;
both are stored in the run folder's ``config.json`` and in every resumable checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from glide.errors import GlideError

__all__ = ["TrainConfig"]


def _check(ok: bool, name: str, value: Any, fix: str) -> None:
    if not ok:
        raise GlideError(f"{name}={value!r} is invalid: {fix}")


@dataclass(frozen=True)
class TrainConfig:
    """Shared training options. ``batch_size`` is the GLOBAL batch over all processes."""

    out_dir: str
    data: str = "synthetic"  # "synthetic" (rendered in memory) or an MS-COCO captions folder
    data_seed: int = 0
    data_size: int = 20000  # images rendered when data == "synthetic"
    captions_per_image: int = 1  # paraphrases per synthetic image
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.0
    adam_eps: float = 1e-8
    warmup_steps: int = 0
    lr_final_fraction: float = 1.0  # cosine decay to lr * this at the last step (1 = constant)
    grad_clip: float = 0.0  # max global grad norm; 0 = no clipping
    ema_rate: float = 0.999
    seed: int = 0
    device: str = "cpu"
    amp: bool = False  # bfloat16 autocast of the forward pass (cuda or cpu)
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    log_every: int = 10
    save_every: int = 250
    snapshot_every: int = 0  # also keep EMA weights every N steps in <out>/snapshots (0 = off)
    init: str | None = None  # checkpoint (path or name) to start from: fine-tuning
    export_dir: str | None = None  # where the EMA weights go; default <out_dir>/export
    progress: bool = True

    def __post_init__(self) -> None:
        _check(bool(self.out_dir), "out_dir", self.out_dir, "give a run folder (--out)")
        for name in ("steps", "batch_size", "log_every", "save_every", "data_size"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value > 0, name, value, "expected an integer > 0")
        _check(
            1 <= self.captions_per_image <= 9,
            "captions_per_image",
            self.captions_per_image,
            "expected 1..9",
        )
        _check(self.lr > 0, "lr", self.lr, "expected a positive learning rate such as 3e-4")
        _check(self.weight_decay >= 0, "weight_decay", self.weight_decay, "expected >= 0")
        _check(self.adam_eps > 0, "adam_eps", self.adam_eps, "expected > 0 (default 1e-8)")
        _check(self.warmup_steps >= 0, "warmup_steps", self.warmup_steps, "expected >= 0")
        _check(
            0 < self.lr_final_fraction <= 1,
            "lr_final_fraction",
            self.lr_final_fraction,
            "expected a fraction in (0, 1]; 1 keeps the learning rate constant",
        )
        _check(self.grad_clip >= 0, "grad_clip", self.grad_clip, "expected >= 0 (0 = off)")
        _check(
            0 <= self.ema_rate < 1,
            "ema_rate",
            self.ema_rate,
            "expected a decay in [0, 1), e.g. 0.999 (GLIDE used 0.9999 for long runs)",
        )
        _check(
            self.seed >= 0 and self.data_seed >= 0,
            "seed",
            (self.seed, self.data_seed),
            "seeds must be non-negative integers",
        )
        _check(
            self.snapshot_every >= 0,
            "snapshot_every",
            self.snapshot_every,
            "expected >= 0 (0 = off)",
        )
        _check(self.threads >= 0, "threads", self.threads, "expected >= 0 (0 = default)")

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def lr_at(self, step: int) -> float:
        """Learning rate of optimizer step ``step`` (0-based): linear warm-up, then constant or
        cosine decay to ``lr * lr_final_fraction`` at ``steps``."""
        import math

        if self.warmup_steps and step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.lr_final_fraction >= 1.0:
            return self.lr
        span = max(1, self.steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        low = self.lr * self.lr_final_fraction
        return low + 0.5 * (self.lr - low) * (1 + math.cos(math.pi * progress))
