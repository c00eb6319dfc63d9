"""EMA weights and resumable training checkpoints (atomic writes).

A run folder holds ``state.pt``: the model, its EMA copy, the optimizer, the step, the RNG states
of this process and the configs, rewritten in place (temp file + ``os.replace``) so a crash never
leaves a half-written checkpoint. Resuming is exact or refused: :func:`check_resume` compares
everything that decides the continuation (the recipe, its options, the shared options of
:data:`glide.train.config.TRAJECTORY_OPTIONS`, ``--steps`` where the cosine decay depends on
it, the data's sha256 and, for a model with dropout, the number of processes) before anything
of the run is written, and names every difference. The per-step randomness of the recipes is
derived from ``(seed, step)`` (:mod:`glide.train.draws`), so an accepted continuation is
identical to the uninterrupted run: bit for bit on CPU (tested by killing a run mid-step), and
on CUDA up to the nondeterminism of its kernels (e.g. atomic adds in convolution backward).
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

__all__ = [
    "atomic_torch_save",
    "check_resume",
    "load_state",
    "read_state",
    "restore_state",
    "resume_differences",
    "save_state",
    "update_ema",
]

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


def read_state(run_dir: Path) -> dict[str, Any] | None:
    """The stored ``run_dir/state.pt`` (None when there is none); nothing is modified."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file
        raise CheckpointError(
            f"cannot read the training state {path} ({exc}); delete it to start afresh"
        ) from exc
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        version = state.get("version") if isinstance(state, dict) else None
        raise CheckpointError(f"{path} has state version {version}, expected {STATE_VERSION}")
    return state


def _dict_differences(label: str, old: Any, new: Any) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            if old.get(key) != new.get(key):
                out += _dict_differences(f"{label}.{key}", old.get(key), new.get(key))
        return out
    return [f"recipe options: {label.lstrip('.')}: the run has {old!r}, this command {new!r}"]


def resume_differences(stored: dict[str, Any], configs: dict[str, Any], step: int) -> list[str]:
    """Every difference between the stored configs of a run at ``step`` and this run's that
    would make the continuation differ from the uninterrupted run (empty: exact resume)."""
    from glide.train.config import trajectory_differences

    out = []
    if stored.get("recipe_name") != configs.get("recipe_name"):
        out.append(
            f"recipe: the run is {stored.get('recipe_name')!r}, this command "
            f"{configs.get('recipe_name')!r}"
        )
    if stored.get("recipe") != configs.get("recipe"):
        out += _dict_differences("", stored.get("recipe"), configs.get("recipe"))
    out += trajectory_differences(stored.get("train", {}), configs.get("train", {}), step)
    old_data, new_data = stored.get("data") or {}, configs.get("data") or {}
    if old_data.get("sha256") and old_data.get("sha256") != new_data.get("sha256"):
        out.append(
            f"data: the run trained on {old_data.get('source')} (sha256 "
            f"{old_data['sha256'][:12]}...), this command loads {new_data.get('source')} "
            f"(sha256 {str(new_data.get('sha256'))[:12]}...): the files or their preprocessing "
            f"changed"
        )
    old_run, new_run = stored.get("run") or {}, configs.get("run") or {}
    if (
        (old_run.get("dropout") or new_run.get("dropout"))
        and "processes" in old_run
        and old_run["processes"] != new_run.get("processes")
    ):
        out.append(
            f"processes: the run used {old_run['processes']}, this command "
            f"{new_run.get('processes')}; the model has dropout and each process draws its own "
            f"dropout masks, so another process count changes them"
        )
    return out


def check_resume(state: dict[str, Any], configs: dict[str, Any], run_dir: Path) -> None:
    """Refuse (CheckpointError naming each option, both values and the fix) to resume
    ``state`` with ``configs`` unless the continuation is the uninterrupted run's."""
    step = int(state["step"])
    problems = resume_differences(state["configs"], configs, step)
    if problems:
        lines = "\n  ".join(problems)
        raise CheckpointError(
            f"cannot resume {Path(run_dir) / STATE_FILE} (step {step}) exactly:\n  {lines}\n"
            f"Repeat the run's options (they are in {Path(run_dir) / 'config.json'}) to resume "
            f"it, or give another --out to start a new run (--init <its export> starts from its "
            f"weights). Nothing in {run_dir} was changed."
        )


def restore_state(
    state: dict[str, Any],
    *,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
) -> dict[str, Any]:
    """Load a checked ``state`` into the given objects and this process's RNGs.

    Returns ``{"step": int, "wall_time_s": float}`` of the stored state.
    """
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    optimizer.load_state_dict(state["optimizer"])
    set_rng_states(state["rng"])
    return {"step": int(state["step"]), "wall_time_s": float(state.get("wall_time_s", 0.0))}


def load_state(
    run_dir: Path,
    *,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    configs: dict[str, Any],
) -> dict[str, Any] | None:
    """:func:`read_state`, :func:`check_resume` and :func:`restore_state` in one call (None
    when ``run_dir`` holds no state)."""
    state = read_state(run_dir)
    if state is None:
        return None
    check_resume(state, configs, run_dir)
    return restore_state(state, model=model, ema=ema, optimizer=optimizer)
