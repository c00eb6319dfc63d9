"""Peak memory of one bench.perf step: on the CPU the resident-set high-water mark of a fresh
process (so variants do not share a peak), on CUDA the allocator's peak."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from bench.perf.step import Variant, prepare


def _read_status_kib(name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _weights_mib(model: torch.nn.Module) -> float:
    return round(sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20, 1)


def probe_memory_cpu(spec: Any, variant: Variant, batch: int, threads: int) -> dict[str, Any]:
    """Peak memory of one CPU step of ``variant``, measured in THIS process: call it in a fresh
    one (:func:`memory_in_fresh_process`).

    ``peak_mib``: the resident-set peak during the step (the model is built and converted
    first, then the kernel's high-water mark is reset), so it holds the weights, activations,
    caption encodings and the Python/PyTorch runtime (``runtime_mib``: the resident set before
    the model was built). ``weights_mib``: the parameters' bytes. Eager (no compile).
    """
    import gc

    torch.set_num_threads(threads)
    runtime = _read_status_kib("VmRSS")
    step, _, _, model = prepare(spec, replace(variant, fast=replace(variant.fast, compile=False)),
                                batch, "cpu")  # fmt: skip
    gc.collect()
    reset = _reset_peak_rss()
    step()
    peak = _read_status_kib("VmHWM")
    return {
        "peak_mib": None if peak is None else round(peak / 1024, 1),
        "weights_mib": _weights_mib(model),
        "runtime_mib": None if runtime is None else round(runtime / 1024, 1),
        "method": "process VmHWM during one eager step (reset after building)"
        if reset
        else "process VmHWM (could not reset: includes building the model)",
    }


def memory_in_fresh_process(
    spec: Any, variant: Variant, batch: int, threads: int
) -> dict[str, Any]:
    """Run :func:`probe_memory_cpu` in a spawned process, so variants do not share a peak."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(probe_memory_cpu, (spec, variant, batch, threads))


def probe_memory_cuda(step: Callable[[], Any], model: torch.nn.Module) -> dict[str, Any]:
    """Peak CUDA memory of one step: the weights plus what the step allocates on top."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - before
    weights = _weights_mib(model)
    return {
        "peak_mib": round(weights + extra / 2**20, 1),
        "weights_mib": weights,
        "runtime_mib": None,
        "method": "torch.cuda peak allocated during one step + this model's weights",
    }
