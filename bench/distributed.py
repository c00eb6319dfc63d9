"""Sharding a sweep across processes started by ``torchrun`` (one or several nodes).

Captions are cut into blocks of ``--batch-size`` consecutive indices and block ``k`` goes to
process ``k % world_size``. Each block is always generated as one batch, so an image is computed
in the same batch whatever the process count or how often the sweep was resumed, and its bytes
do not depend on either (per-sample seeds do the rest). The process group (gloo, which works
on CPU and beside CUDA) is used only for barriers: rank 0 computes metrics, tables and plots
after every rank has finished generating.
"""

from __future__ import annotations

import datetime
import os
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


def shard_blocks(n: int, block: int, info: DistInfo) -> list[range]:
    """Blocks ``[k*block, (k+1)*block)`` of ``range(n)`` owned by this process (``k % world``).

    Batches are these blocks whatever the process count or resumption state, so every image is
    computed in the same batch composition: bit-identical results for a given batch size.
    """
    blocks = [range(s, min(s + block, n)) for s in range(0, n, block)]
    return blocks[info.rank :: info.world_size]


def device_for(device: str, info: DistInfo) -> str:
    """Map ``--device cuda`` to ``cuda:<local_rank>`` under torchrun; other devices as given."""
    if device == "cuda" and info.enabled:
        return f"cuda:{info.local_rank}"
    return device
