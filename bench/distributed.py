"""Sharding a sweep across processes started by ``torchrun`` (one or several nodes).

Each process generates the caption indices ``i`` with ``i % world_size == rank``; images do not
depend on which process made them (per-sample seeds), so any process count gives the same
folder. The process group (gloo, which works on CPU and beside CUDA) is used only for barriers:
rank 0 computes metrics, tables and plots after every rank has finished generating.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bench.errors import BenchError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def dist_from_env() -> DistInfo:
    """Read RANK / WORLD_SIZE / LOCAL_RANK as set by torchrun (defaults: a single process)."""
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise BenchError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers ({exc})") from None
    if world < 1 or not 0 <= rank < world:
        raise BenchError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return DistInfo(rank, world, local)


def init_process_group(info: DistInfo) -> None:
    if info.enabled and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(
            backend="gloo",
            rank=info.rank,
            world_size=info.world_size,
            timeout=datetime.timedelta(hours=12),
        )


def barrier(info: DistInfo) -> None:
    if info.enabled and torch.distributed.is_initialized():
        torch.distributed.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def shard(indices: Sequence[int], info: DistInfo) -> list[int]:
    """The indices this process owns: those with ``index % world_size == rank``."""
    return [i for i in indices if i % info.world_size == info.rank]


def device_for(device: str, info: DistInfo) -> str:
    """Map ``--device cuda`` to ``cuda:<local_rank>`` under torchrun; other devices as given."""
    if device == "cuda" and info.enabled:
        return f"cuda:{info.local_rank}"
    return device
