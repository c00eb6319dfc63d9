"""Data parallelism for the training recipes: one process per device, started by ``torchrun``.

Every process builds the same model from the same seed, draws the same GLOBAL batch of example
indices, noise and timesteps for each step (see :mod:`glide.train.draws`) and keeps only its
own contiguous slice of rows. Gradients are averaged across processes by
``DistributedDataParallel``, so N processes with batch B/N each take the same optimizer step as
one process with batch B, up to float summation order, for a model without dropout. Dropout
(``dropout`` > 0 in the model options: 0 in the ``embedded-*`` and ``tiny-*`` presets, 0.1 in
the official ``base`` and ``upsample`` sizes) draws
its masks from each process's own generator (seeded by seed, step and rank), so with dropout the
N-process step is another draw of the same distribution, not the same step; a run with dropout
therefore resumes only with its own process count (:mod:`glide.train.state`).

Devices (:func:`device_for_process`): under torchrun each process uses the GPU of its
``LOCAL_RANK``; ``--device cuda`` and ``--device cuda:N`` both mean ``cuda:<LOCAL_RANK>`` there
(choose the GPUs with ``CUDA_VISIBLE_DEVICES``). Backend: NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import datetime
import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist

from glide.errors import GlideError

__all__ = [
    "DistInfo",
    "all_gather_with_grad",
    "device_for_process",
    "dist_from_env",
    "init",
    "resolve_device",
    "shutdown",
]


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
    """RANK / WORLD_SIZE / LOCAL_RANK as set by torchrun (a single process when absent)."""
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise GlideError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers ({exc})") from None
    if world < 1 or not 0 <= rank < world:
        raise GlideError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return DistInfo(rank, world, local)


def device_for_process(device: str, info: DistInfo, cuda_count: int) -> torch.device:
    """``--device`` of this process, given ``cuda_count`` visible CUDA devices (no CUDA call).

    One process: the device as named (``cuda`` is ``cuda:0``). Several (torchrun): ``cuda`` and
    ``cuda:N`` both become ``cuda:<local_rank>``, one GPU per process; an explicit ``N`` is
    overridden (a single device named for every process would put them all on one GPU).
    """
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise GlideError(
            f"--device {device!r} is not a device name; use cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type != "cuda":
        return dev
    if cuda_count < 1:
        raise GlideError(f"--device {device!r} asked for CUDA but none is available; use cpu")
    if info.enabled:
        index = info.local_rank
        if index >= cuda_count:
            raise GlideError(
                f"--device {device!r} under torchrun: LOCAL_RANK={index} needs cuda:{index}, but "
                f"only {cuda_count} CUDA device(s) are visible; start at most {cuda_count} "
                f"processes per node (--nproc_per_node) or make more GPUs visible"
            )
        return torch.device("cuda", index)
    index = 0 if dev.index is None else dev.index
    if index >= cuda_count:
        raise GlideError(
            f"--device {device!r}: only {cuda_count} CUDA device(s) are visible "
            f"(cuda:0..cuda:{cuda_count - 1})"
        )
    return torch.device("cuda", index)


def resolve_device(device: str, info: DistInfo) -> torch.device:
    """``--device`` -> torch.device (:func:`device_for_process`), made current for CUDA.

    Under torchrun an explicit ``cuda:N`` is replaced by ``cuda:<local_rank>`` with a warning
    from the first process.
    """
    is_cuda = device.startswith("cuda")
    dev = device_for_process(device, info, torch.cuda.device_count() if is_cuda else 0)
    if dev.type == "cuda":
        if info.enabled and info.is_main and device.strip() != "cuda":
            warnings.warn(
                f"--device {device} under torchrun: each process uses cuda:<LOCAL_RANK>, not "
                f"{device}; choose the GPUs with CUDA_VISIBLE_DEVICES and pass --device cuda",
                stacklevel=2,
            )
        torch.cuda.set_device(dev)
    return dev


def init(info: DistInfo, device: torch.device) -> None:
    """Join the process group (no-op for a single process)."""
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(
            backend=backend,
            rank=info.rank,
            world_size=info.world_size,
            timeout=datetime.timedelta(minutes=30),
        )


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def all_reduce_sum(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum of ``x`` over processes (``x`` itself for one process); does not modify ``x``."""
    if not info.enabled:
        return x
    out = x.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


class _AllGatherGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums the incoming gradients over processes and
    returns this process's slice (works on gloo, which has no reduce-scatter)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        world = dist.get_world_size()
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def all_gather_with_grad(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Rows of every process, in rank order: [n, ...] -> [world * n, ...], differentiable.

    Used by the contrastive CLIP loss, which needs every caption/image pair of the global batch.
    With DDP averaging the parameter gradients, the result equals the one-process gradient.
    """
    if not info.enabled:
        return x
    return _AllGatherGrad.apply(x)
