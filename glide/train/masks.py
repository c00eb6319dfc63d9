"""Random inpainting masks for inpainting fine-tuning (GLIDE sec. 3.2 / 4: "we erase random
regions of training examples").

Each mask is 1 on pixels to KEEP and 0 on the erased region, the convention of the inpainting
models' ``inpaint_mask`` input. The erased region is the union of one or two axis-aligned
rectangles whose sides are uniform fractions of the image side in ``[min_frac, max_frac]``.
"""

from __future__ import annotations

import torch

from glide.errors import GlideError
from glide.train.draws import StepDraws

__all__ = ["random_keep_masks"]


def random_keep_masks(
    draws: StepDraws,
    size: int,
    *,
    min_frac: float = 0.25,
    max_frac: float = 0.7,
    second_box_prob: float = 0.5,
) -> torch.Tensor:
    """Masks [n, 1, size, size] float32 (1 = keep, 0 = erased) for this process's rows."""
    if not 0 < min_frac <= max_frac <= 1:
        raise GlideError(
            f"mask fractions min={min_frac}, max={max_frac} must satisfy 0 < min <= max <= 1"
        )
    # per row and box: width, height (fractions), left, top (fractions of the free space)
    u = draws.rand(2, 4)
    use_second = draws.rand() < second_box_prob
    wh = min_frac + (max_frac - min_frac) * u[..., :2]  # [n, 2, 2]
    xy = (1.0 - wh) * u[..., 2:]  # [n, 2, 2]
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # pixel centres in (0, 1)
    x = coords.view(1, 1, 1, size)
    y = coords.view(1, 1, size, 1)
    left, top = xy[..., 0, None, None], xy[..., 1, None, None]  # [n, 2, 1, 1]
    right, bottom = left + wh[..., 0, None, None], top + wh[..., 1, None, None]
    inside = (x >= left) & (x < right) & (y >= top) & (y < bottom)  # [n, 2, S, S]
    inside[:, 1] &= use_second[:, None, None]
    erased = inside.any(dim=1, keepdim=True)
    return (~erased).float()
