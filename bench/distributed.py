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

import torch

from glide.devices import check_device

# One definition of the torchrun environment for the whole project (training and sweeps).
from glide.train.distributed import DistInfo, barrier, dist_from_env, shutdown

__all__ = [
    "DistInfo",
    "barrier",
    "device_for",
    "dist_from_env",
    "init_process_group",
    "shard_blocks",
    "shutdown",
]


def init_process_group(info: DistInfo) -> None:
    """gloo on every device: the sweep only needs barriers; long runs wait up to 12 h."""
    if info.enabled and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(
            backend="gloo",
            rank=info.rank,
            world_size=info.world_size,
            timeout=datetime.timedelta(hours=12),
        )


def shard_blocks(n: int, block: int, info: DistInfo) -> list[range]:
    """Blocks ``[k*block, (k+1)*block)`` of ``range(n)`` owned by this process (``k % world``).

    Batches are these blocks whatever the process count or resumption state, so every image is
    computed in the same batch composition: bit-identical results for a given batch size.
    """
    blocks = [range(s, min(s + block, n)) for s in range(0, n, block)]
    return blocks[info.rank :: info.world_size]


def device_for(device: str, info: DistInfo) -> str:
    """Map ``--device cuda`` to ``cuda:<local_rank>`` under torchrun; other devices as given.

    A device this torch build or machine cannot use is refused with a clear error.
    """
    check_device(device)
    if device == "cuda" and info.enabled:
        return check_device(f"cuda:{info.local_rank}")
    return device
