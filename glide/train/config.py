"""The options every training recipe shares (:class:`TrainConfig`), frozen and validated.

Recipe-specific options (model size, caption dropout, masks, ...) live in each recipe module;
both are stored in the run folder's ``config.json`` and in every resumable checkpoint.

:data:`TRAJECTORY_OPTIONS` lists, in one place, the shared options that decide what a run
computes; a resumed run must repeat them (:func:`trajectory_differences`, used by
:mod:`glide.train.state`), so that a resumed run is exactly the uninterrupted one or is refused.
:data:`RUN_ONLY_OPTIONS` are the others (where files go, logging, the device and threads, which
change floating-point rounding but not the computation), free to change on resume.

EMA warm-up (:meth:`TrainConfig.ema_rate_at`): the decay of update ``s`` (0-based) is
``min(ema_rate, (1 + s) / (10 + s))`` (the form of TensorFlow's ``ExponentialMovingAverage``
with ``num_updates``). The EMA copy starts as the initial weights; a constant decay ``r`` leaves
``r ** n`` of them in the weights exported after ``n`` steps (13.5% for 2,000 steps at 0.999),
while the warm-up leaves ``1 / C(n + 9, 9)`` (< 1e-12 after 40 steps) and averages roughly the
last ``s / 9`` steps until the decay reaches ``ema_rate``, at step ``(10 r - 1) / (1 - r)``
(8,990 for 0.999, 1,790 for 0.995). ``ema_warmup=False`` (``--no-ema-warmup``) restores the
constant decay of runs made before the warm-up existed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from glide.errors import GlideError

__all__ = [
    "IMAGE_FITS",
    "RUN_ONLY_OPTIONS",
    "TRAJECTORY_OPTIONS",
    "TrainConfig",
    "TrajectoryOption",
    "trajectory_differences",
]

#: How images of a ``--data`` folder are brought to the training resolution S x S.
IMAGE_FITS: dict[str, str] = {
    "center-crop": "centre-crop to the shorter side, then PIL bicubic resize to S x S "
    "(the paper's preprocessing and the benchmark's reference images')",
    "squash": "whole image resized to S x S, aspect ratio not kept (box filter when "
    "shrinking, bicubic when enlarging): the recipes' only behaviour before --image-fit",
}


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
    image_fit: str = "center-crop"  # --data folder images -> S x S, see IMAGE_FITS
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.0
    adam_eps: float = 1e-8
    warmup_steps: int = 0
    lr_final_fraction: float = 1.0  # cosine decay to lr * this at the last step (1 = constant)
    grad_clip: float = 0.0  # max global grad norm; 0 = no clipping
    ema_rate: float = 0.999
    ema_warmup: bool = True  # decay min(ema_rate, (1 + s) / (10 + s)) at update s
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
        _check(
            self.image_fit in IMAGE_FITS,
            "image_fit",
            self.image_fit,
            f"choose one of {sorted(IMAGE_FITS)} (--image-fit)",
        )
        _check(
            isinstance(self.ema_warmup, bool),
            "ema_warmup",
            self.ema_warmup,
            "expected True or False (--no-ema-warmup turns it off)",
        )

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def ema_rate_at(self, step: int) -> float:
        """EMA decay of the update after optimizer step ``step`` (0-based): with warm-up
        ``min(ema_rate, (1 + step) / (10 + step))``, else ``ema_rate``."""
        if not self.ema_warmup:
            return self.ema_rate
        return min(self.ema_rate, (1 + step) / (10 + step))

    def lr_depends_on_steps(self, done: int) -> bool:
        """Whether the learning rates of steps ``0 .. done - 1`` depend on ``steps`` (the cosine
        decay spans ``warmup_steps .. steps``; the warm-up and a constant rate do not)."""
        return self.lr_final_fraction < 1.0 and done > self.warmup_steps

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


# ----- what a resumed run must repeat -----------------------------------------------------------


def _always(cfg: dict[str, Any]) -> bool:
    return True


def _synthetic(cfg: dict[str, Any]) -> bool:
    return cfg.get("data") == "synthetic"


def _folder(cfg: dict[str, Any]) -> bool:
    return cfg.get("data") != "synthetic"


ALWAYS = object()  # TrajectoryOption.legacy of an option that every stored run has


@dataclass(frozen=True)
class TrajectoryOption:
    """A shared option that changes what a run computes.

    ``legacy``: the value a run stored before the option existed behaved as (``ALWAYS``: the
    option always existed); ``applies(train_config_dict)``: whether it matters for that run
    (e.g. ``data_seed`` only for synthetic data).
    """

    name: str
    legacy: Any = ALWAYS
    applies: Callable[[dict[str, Any]], bool] = _always
    label: str | None = None  # how error messages name it; default its flag, --name-like-this

    @property
    def flag(self) -> str:
        return self.label or "--" + self.name.replace("_", "-")


#: Every shared option that changes the trajectory of a run (weights, EMA, optimizer state at a
#: given step). ``steps`` is not here: it changes only the cosine decay, checked separately.
TRAJECTORY_OPTIONS: tuple[TrajectoryOption, ...] = (
    TrajectoryOption("data"),
    TrajectoryOption("data_seed", applies=_synthetic),
    TrajectoryOption("data_size", applies=_synthetic),
    TrajectoryOption("captions_per_image", applies=_synthetic),
    TrajectoryOption("image_fit", legacy="squash", applies=_folder),
    TrajectoryOption("batch_size"),
    TrajectoryOption("lr"),
    TrajectoryOption("weight_decay"),
    TrajectoryOption("adam_eps"),
    TrajectoryOption("warmup_steps"),
    TrajectoryOption("lr_final_fraction"),
    TrajectoryOption("grad_clip"),
    TrajectoryOption("ema_rate"),
    TrajectoryOption("ema_warmup", legacy=False, label="EMA warm-up (off: --no-ema-warmup)"),
    TrajectoryOption("seed"),
    TrajectoryOption("amp"),
    TrajectoryOption("init"),
)

#: The shared options that do not change the computation (``device`` and ``threads`` change
#: only floating-point rounding), free to differ on resume; ``steps`` see above.
RUN_ONLY_OPTIONS: tuple[str, ...] = (
    "out_dir",
    "steps",
    "device",
    "threads",
    "log_every",
    "save_every",
    "snapshot_every",
    "export_dir",
    "progress",
)


def _value(cfg: dict[str, Any], option: TrajectoryOption) -> Any:
    if option.name in cfg:
        return cfg[option.name]
    return None if option.legacy is ALWAYS else option.legacy


def trajectory_differences(stored: dict[str, Any], current: dict[str, Any], done: int) -> list[str]:
    """What would make ``current`` (a :meth:`TrainConfig.to_dict`) continue the run stored
    with ``stored`` at step ``done`` differently from the uninterrupted run; one line each."""
    out = []
    for option in TRAJECTORY_OPTIONS:
        if not (option.applies(stored) or option.applies(current)):
            continue
        old, new = _value(stored, option), _value(current, option)
        if old != new:
            out.append(f"{option.flag}: the run has {old!r}, this command {new!r}")
    old_steps, new_steps = stored.get("steps"), current.get("steps")
    if old_steps != new_steps:
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        before = TrainConfig(**{"out_dir": "-", **{k: v for k, v in stored.items() if k in known}})
        if before.lr_depends_on_steps(done):
            out.append(
                f"--steps: the run has {old_steps}, this command {new_steps}, and its cosine "
                f"decay (--lr-final-fraction {before.lr_final_fraction}) set the learning rate "
                f"of steps {before.warmup_steps}..{done - 1} from --steps {old_steps}; another "
                f"--steps would change them (extending a run is exact only with a constant "
                f"rate, --lr-final-fraction 1)"
            )
    return out
