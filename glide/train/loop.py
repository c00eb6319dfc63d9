"""The training loop shared by every recipe: AdamW, EMA, logging, checkpoints, export.

A recipe is a :class:`Task`: the network to train, its data, a function that returns the
per-example losses of this process's rows for one step, and an exporter for the final EMA
weights. :func:`train` does the rest, identically on one process or under ``torchrun``.

Run folder (``--out``)::

    config.json          shared + recipe options, data (source, sha256), process count
    state.pt             latest resumable state (atomic), see glide.train.state
    log.jsonl            one line per logged step: step, lr, mean losses over the window, speed
    snapshots/           EMA weights every --snapshot-every steps (optional)
    summary.json         steps, wall time, final losses, exported files with sha256
    export/              final EMA weights in the official layout + glide_options.json

Resuming: a folder holding ``state.pt`` is resumed only if the continuation is exactly the
uninterrupted run (:func:`glide.train.state.check_resume`); the check runs before anything of
the run is written, so a refused command leaves the folder as it was. Lines of ``log.jsonl``
after the resumed step are dropped, and so is a torn last line (a process killed while
writing it), with a warning.

EMA: after each optimizer step ``ema <- d * ema + (1 - d) * weights`` with the warm-up decay
``d = min(ema_rate, (1 + s) / (10 + s))`` (:meth:`glide.train.config.TrainConfig.ema_rate_at`),
so the exported EMA holds no measurable share of the initial weights.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from glide.errors import CheckpointError, GlideError
from glide.io import atomic_write_text
from glide.train import distributed as dist_util
from glide.train.config import TrainConfig
from glide.train.data import CaptionedImages
from glide.train.draws import StepDraws, step_seed
from glide.train.state import (
    atomic_torch_save,
    check_resume,
    read_state,
    restore_state,
    save_state,
    update_ema,
)

__all__ = ["StepContext", "Task", "train"]

LossFn = Callable[[nn.Module, "StepContext"], dict[str, torch.Tensor]]
ExportFn = Callable[[nn.Module, Path], list[Path]]


@dataclass
class StepContext:
    """What a recipe's loss function gets for one step."""

    step: int
    draws: StepDraws
    data: CaptionedImages
    device: torch.device
    info: dist_util.DistInfo


@dataclass
class Task:
    """One training recipe, ready to run.

    ``losses(wrapped_module, ctx)`` returns per-example tensors [n_local] for this process's
    rows; ``"loss"`` is what is minimised (its mean), the others are logged.
    ``export(ema_module, folder)`` writes the final weights and returns the files.
    """

    name: str
    module: nn.Module
    data: CaptionedImages
    losses: LossFn
    export: ExportFn
    recipe_config: dict[str, Any] = field(default_factory=dict)


def _json_line(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _has_dropout(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in module.modules())


def run_configs(task: Task, cfg: TrainConfig, info: dist_util.DistInfo) -> dict[str, Any]:
    """What ``config.json`` and every ``state.pt`` record of a run, and resuming compares."""
    from glide.train.config import IMAGE_FITS

    folder = cfg.data != "synthetic"
    return {
        "train": cfg.to_dict(),
        "recipe": task.recipe_config,
        "recipe_name": task.name,
        "data": {
            "source": task.data.source,
            "examples": len(task.data),
            "sha256": task.data.fingerprint(),
            "preprocessing": IMAGE_FITS[cfg.image_fit] if folder else "rendered at size",
        },
        "run": {"processes": info.world_size, "dropout": _has_dropout(task.module)},
    }


def _check_finite(losses: dict[str, float], step: int) -> None:
    bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
    if bad:
        raise FloatingPointError(
            f"non-finite loss at step {step}: {bad}; lower --lr or enable --grad-clip, and "
            f"resume from the last state.pt"
        )


def train(task: Task, cfg: TrainConfig) -> dict[str, Any]:
    """Train ``task`` with ``cfg`` (resuming from ``cfg.out_dir`` if it holds a state).

    Returns the summary written to ``summary.json`` (rank 0; other ranks get the same dict
    without the file list).
    """
    info = dist_util.dist_from_env()
    if cfg.batch_size % info.world_size:
        raise GlideError(
            f"--batch-size {cfg.batch_size} is not divisible by the {info.world_size} processes; "
            f"the global batch is split evenly, choose a multiple of {info.world_size}"
        )
    device = dist_util.resolve_device(cfg.device, info)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.amp and device.type not in ("cuda", "cpu"):
        raise GlideError(f"--amp (bfloat16 autocast) runs on cuda or cpu, got --device {device}")
    dist_util.init(info, device)
    try:
        return _train(task, cfg, info, device)
    finally:
        dist_util.shutdown(info)


def _train(
    task: Task, cfg: TrainConfig, info: dist_util.DistInfo, device: torch.device
) -> dict[str, Any]:
    from tqdm import tqdm

    run_dir = Path(cfg.out_dir)
    export_dir = Path(cfg.export_dir) if cfg.export_dir else run_dir / "export"
    configs = run_configs(task, cfg, info)
    # nothing of the run is written before the resume check has passed
    stored = read_state(run_dir)
    if stored is not None:
        check_resume(stored, configs, run_dir)
    log_path = run_dir / "log.jsonl"
    start = int(stored["step"]) if stored is not None else 0
    # lines of the steps <= the resumed one; later lines and a torn last line are dropped
    records = read_log(log_path, warn=info.is_main)
    log_lines = [line for line, rec in records if rec["step"] <= start]
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_json(run_dir / "config.json", configs)
        _rewrite_log(log_path, log_lines)
    dist_util.barrier(info)

    module = task.module.to(device)
    module.train()
    ema = copy.deepcopy(module).requires_grad_(False)
    ema.eval()
    optimizer = torch.optim.AdamW(
        module.parameters(),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        betas=(0.9, 0.999),
        eps=cfg.adam_eps,
    )
    resumed = None
    if stored is not None:
        resumed = restore_state(stored, model=module, ema=ema, optimizer=optimizer)
        del stored
    step = resumed["step"] if resumed else 0
    wall_before = resumed["wall_time_s"] if resumed else 0.0

    wrapped: nn.Module = module
    if info.enabled:
        wrapped = nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None
        )
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if cfg.amp else contextlib.nullcontext()
    )

    window: dict[str, float] = {}
    window_steps = 0
    last_losses: dict[str, float] = {}
    t_start = time.perf_counter()
    t_window = t_start
    bar = tqdm(
        total=cfg.steps,
        initial=step,
        desc=f"train {task.name}",
        unit="step",
        disable=not (cfg.progress and info.is_main),
        dynamic_ncols=True,
    )
    while step < cfg.steps:
        # dropout and any other global-RNG use: a function of (seed, step, rank) only
        torch.manual_seed(step_seed(cfg.seed, step, stream=1 + info.rank))
        draws = StepDraws(cfg.seed, step, cfg.batch_size, info.rank, info.world_size)
        ctx = StepContext(step=step, draws=draws, data=task.data, device=device, info=info)
        lr = cfg.lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with autocast:
            losses = task.losses(wrapped, ctx)
        loss = losses["loss"].float().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip)
        optimizer.step()
        update_ema(ema, module, cfg.ema_rate_at(step))
        step += 1

        # global means of every logged loss (sum over rows of all processes / global batch)
        names = sorted(losses)
        local = torch.stack([losses[k].detach().float().sum() for k in names])
        total = dist_util.all_reduce_sum(local, info) / cfg.batch_size
        values = dict(zip(names, total.tolist(), strict=True))
        _check_finite(values, step)
        for k, v in values.items():
            window[k] = window.get(k, 0.0) + v
        window_steps += 1
        bar.update(1)
        bar.set_postfix(loss=f"{values['loss']:.4f}")

        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.perf_counter()
            last_losses = {k: v / window_steps for k, v in window.items()}
            if info.is_main:
                _json_line(
                    log_path,
                    {
                        "step": step,
                        "lr": lr,
                        **last_losses,
                        "examples_per_s": window_steps * cfg.batch_size / (now - t_window),
                        "wall_time_s": wall_before + now - t_start,
                    },
                )
            window, window_steps, t_window = {}, 0, now
        if cfg.snapshot_every and step % cfg.snapshot_every == 0 and info.is_main:
            atomic_torch_save(ema.state_dict(), run_dir / "snapshots" / f"ema_{step:07d}.pt")
        if step % cfg.save_every == 0 or step == cfg.steps:
            if info.is_main:
                save_state(
                    run_dir,
                    step=step,
                    model=module,
                    ema=ema,
                    optimizer=optimizer,
                    configs=configs,
                    wall_time_s=wall_before + time.perf_counter() - t_start,
                )
            dist_util.barrier(info)
    bar.close()

    summary: dict[str, Any] = {
        "recipe": task.name,
        "steps": step,
        "batch_size": cfg.batch_size,
        "processes": info.world_size,
        "device": str(device),
        "wall_time_s": wall_before + time.perf_counter() - t_start,
        "final_losses": last_losses or _last_logged(log_path),
        "data": task.data.source,
        "n_examples": len(task.data),
    }
    if info.is_main:
        export_dir.mkdir(parents=True, exist_ok=True)
        files = task.export(ema, export_dir)
        from glide.io import sha256_file

        summary["exported"] = {str(p): sha256_file(p) for p in files}
        _write_json(run_dir / "summary.json", summary)
    dist_util.barrier(info)
    return summary


def read_log(log_path: Path, *, warn: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """The lines of ``log.jsonl`` as (text, record); a torn LAST line (a process killed while
    writing it) is dropped with a warning, an unreadable line elsewhere is an error."""
    if not log_path.is_file():
        return []
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ValueError("not a log record with an integer 'step'")
        except ValueError as exc:
            if number == len(lines):
                if not warn:
                    break
                warnings.warn(
                    f"{log_path}: dropped the torn last line {number} ({line[:60]!r}: {exc}), "
                    f"left by a process killed while writing it",
                    stacklevel=2,
                )
                break
            raise CheckpointError(
                f"{log_path}: line {number} is not a log record ({exc}); remove that line "
                f"(or the file) and run the command again"
            ) from None
        out.append((line, record))
    return out


def _last_logged(log_path: Path) -> dict[str, float]:
    """Losses of the last line of ``log.jsonl`` (a run that was already finished)."""
    records = read_log(log_path)
    if not records:
        return {}
    skip = {"step", "lr", "examples_per_s", "wall_time_s"}
    return {k: v for k, v in records[-1][1].items() if k not in skip}


def _rewrite_log(log_path: Path, lines: list[str]) -> None:
    """Make ``log.jsonl`` hold exactly ``lines`` (atomically; untouched when it already does)."""
    if not log_path.is_file():
        return
    new = "".join(line + "\n" for line in lines)
    if log_path.read_text(encoding="utf-8", errors="replace") != new:
        atomic_write_text(log_path, new)
