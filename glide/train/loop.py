"""The training loop shared by every recipe: AdamW, EMA, logging, checkpoints, export.

A recipe is a :class:`Task`: the network to train, its data, a function that returns the
per-example losses of this process's rows for one step, and an exporter for the final EMA
weights. :func:`train` does the rest, identically on one process or under ``torchrun``.

Run folder (``--out``)::

    config.json          shared + recipe options of the run
    state.pt             latest resumable state (atomic), see glide.train.state
    log.jsonl            one line per logged step: step, lr, mean losses over the window, speed
    snapshots/           EMA weights every --snapshot-every steps (optional)
    summary.json         steps, wall time, final losses, exported files with sha256
    export/              final EMA weights in the official layout + glide_options.json
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from glide.errors import GlideError
from glide.train import distributed as dist_util
from glide.train.config import TrainConfig
from glide.train.data import CaptionedImages
from glide.train.draws import StepDraws, step_seed
from glide.train.state import atomic_torch_save, load_state, save_state, update_ema

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
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


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
    configs = {"train": cfg.to_dict(), "recipe": task.recipe_config, "recipe_name": task.name}
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_json(run_dir / "config.json", configs)
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
    resumed = load_state(run_dir, model=module, ema=ema, optimizer=optimizer, configs=configs)
    step = resumed["step"] if resumed else 0
    wall_before = resumed["wall_time_s"] if resumed else 0.0
    log_path = run_dir / "log.jsonl"
    if info.is_main:
        _truncate_log(log_path, step)  # lines written after the state we resume from

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
        update_ema(ema, module, cfg.ema_rate)
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
        from glide.checkpoints import sha256_file

        summary["exported"] = {str(p): sha256_file(p) for p in files}
        _write_json(run_dir / "summary.json", summary)
    dist_util.barrier(info)
    return summary


def _last_logged(log_path: Path) -> dict[str, float]:
    """Losses of the last line of ``log.jsonl`` (a run that was already finished)."""
    if not log_path.is_file():
        return {}
    lines = log_path.read_text().strip().splitlines()
    if not lines:
        return {}
    record = json.loads(lines[-1])
    skip = {"step", "lr", "examples_per_s", "wall_time_s"}
    return {k: v for k, v in record.items() if k not in skip}


def _truncate_log(log_path: Path, step: int) -> None:
    """Keep the log lines of steps <= ``step`` (the resumed state), drop later ones."""
    if not log_path.is_file():
        return
    lines = log_path.read_text().splitlines()
    keep = [line for line in lines if line.strip() and json.loads(line)["step"] <= step]
    if len(keep) != len(lines):
        tmp = log_path.with_name(f".{log_path.name}.tmp")
        tmp.write_text("".join(line + "\n" for line in keep))
        tmp.replace(log_path)
