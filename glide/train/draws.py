"""Per-step randomness that does not depend on the number of processes or on resumption.

For step ``s`` every process seeds a generator with ``(seed, s)``, draws the values of the WHOLE
global batch (example indices, timesteps, noise, caption dropout, inpainting masks) in the same
order, and keeps only its own rows ``[rank * n, (rank + 1) * n)``. So one process with batch B
and N processes with batch B/N see exactly the same examples and noise, and a run resumed from
a checkpoint at step s continues exactly as the uninterrupted run would.
"""

from __future__ import annotations

import torch

__all__ = ["StepDraws", "step_seed"]

_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads (seed, step) over 63 bits


def step_seed(seed: int, step: int, stream: int = 0) -> int:
    """A 63-bit seed for (run seed, step, stream); distinct streams never share draws."""
    x = (seed * _MIX + step * 0xBF58476D1CE4E5B9 + stream * 0x94D049BB133111EB) & (2**64 - 1)
    x ^= x >> 31
    x = (x * 0xD6E8FEB86659FD93) & (2**64 - 1)
    x ^= x >> 29
    return x & (2**63 - 1)


class StepDraws:
    """Draws for one optimizer step; every method returns this process's rows only.

    ``global_batch`` rows are drawn on the CPU with one ``torch.Generator`` and sliced to
    ``[rank * local_batch, (rank + 1) * local_batch)``.
    """

    def __init__(self, seed: int, step: int, global_batch: int, rank: int, world_size: int):
        assert global_batch % world_size == 0, "checked by the config"
        self.global_batch = global_batch
        self.local_batch = global_batch // world_size
        self.lo = rank * self.local_batch
        self.hi = self.lo + self.local_batch
        self.generator = torch.Generator().manual_seed(step_seed(seed, step))

    def _local(self, x: torch.Tensor) -> torch.Tensor:
        return x[self.lo : self.hi]

    def indices(self, n_items: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(global, local) example indices drawn uniformly with replacement from ``n_items``."""
        idx = torch.randint(n_items, (self.global_batch,), generator=self.generator)
        return idx, self._local(idx)

    def randint(self, high: int, *shape: int) -> torch.Tensor:
        """Integers in [0, high), local rows [n, *shape] (int64)."""
        x = torch.randint(high, (self.global_batch, *shape), generator=self.generator)
        return self._local(x)

    def rand(self, *shape: int) -> torch.Tensor:
        """Uniform [0, 1) float32, local rows [n, *shape]."""
        return self._local(torch.rand((self.global_batch, *shape), generator=self.generator))

    def randn(self, *shape: int) -> torch.Tensor:
        """Standard normal float32, local rows [n, *shape]."""
        return self._local(torch.randn((self.global_batch, *shape), generator=self.generator))
