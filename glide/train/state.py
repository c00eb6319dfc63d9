"""EMA weights and resumable training checkpoints (atomic writes).

A run folder holds ``state.pt``: the model, its EMA copy, the optimizer, the step, the RNG states
of this process and the configs, rewritten in place (temp file + ``os.replace``) so a crash never
leaves a half-written checkpoint. Resuming restores all of it; the per-step randomness of the
recipes is derived from ``(seed, step)`` anyway (:mod:`glide.train.draws`), so the continuation is
identical to an uninterrupted run.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from glide.errors import CheckpointError
from glide.io import atomic_torch_save  # noqa: F401  (re-exported)

__all__ = ["atomic_torch_save", "load_state", "save_state", "update_ema"]

STATE_FILE = "state.pt"
STATE_VERSION = 1


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, rate: float) -> None:
    """``ema <- rate * ema + (1 - rate) * model`` for parameters; buffers are copied."""
    for ema_p, p in zip(ema.parameters(), model.parameters(), strict=True):
        ema_p.lerp_(p.detach(), 1.0 - rate)
    for eb, b in zip(ema.buffers(), model.buffers(), strict=True):
        eb.copy_(b)


def rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_state(
    run_dir: Path,
    *,
    step: int,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    configs: dict[str, Any],
    wall_time_s: float = 0.0,
) -> Path:
    """Write ``run_dir/state.pt`` atomically and return its path."""
    path = Path(run_dir) / STATE_FILE
    atomic_torch_save(
        {
            "version": STATE_VERSION,
            "step": step,
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng_states(),
            "configs": configs,
            "wall_time_s": wall_time_s,
        },
        path,
    )
    return path


def load_state(
    run_dir: Path,
    *,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    configs: dict[str, Any],
) -> dict[str, Any] | None:
    """Restore ``run_dir/state.pt`` into the given objects (None when there is none).

    Returns ``{"step": int, "wall_time_s": float}`` of the stored state.

    The stored recipe config must equal ``configs["recipe"]`` (the architecture and objective);
    the shared options may differ (e.g. more ``steps`` to continue a finished run).
    """
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file
        raise CheckpointError(
            f"cannot read the training state {path} ({exc}); delete it to start afresh"
        ) from exc
    if state.get("version") != STATE_VERSION:
        raise CheckpointError(
            f"{path} has state version {state.get('version')}, expected {STATE_VERSION}"
        )
    if state["configs"].get("recipe") != configs.get("recipe"):
        raise CheckpointError(
            f"{path} was written by a run with recipe options {state['configs'].get('recipe')}, "
            f"but this run has {configs.get('recipe')}; use another --out folder to start a "
            f"new run, or repeat the original options to resume"
        )
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    optimizer.load_state_dict(state["optimizer"])
    set_rng_states(state["rng"])
    return {"step": int(state["step"]), "wall_time_s": float(state.get("wall_time_s", 0.0))}
