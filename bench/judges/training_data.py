"""What both judges' training recipes share: seeds, the rendered sets, augmentation.

Used by :mod:`bench.judges.train` (the attribute classifier and the CLI) and
:mod:`bench.judges.train_clip` (the evaluation CLIP); it imports neither.
"""

from __future__ import annotations

import functools
import platform

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from glide.data.synthetic import SyntheticCaptions

EVAL_SEED = 1729  # the judges' own training data: a seed the GLIDE models never see
BENCH_SEED = 0  # the benchmark's val set (bench.synthetic_captions.SYNTHETIC_SEED)


@functools.lru_cache(maxsize=2)
def render_set(seed: int, split: str, n: int, desc: str):
    """(uint8 [n, 64, 64, 3], captions, scenes) for the first ``n`` items of (seed, split)."""
    ds = SyntheticCaptions(seed, split)
    images = np.empty((n, 64, 64, 3), dtype=np.uint8)
    captions, scenes = [], []
    for i in tqdm(range(n), desc=desc, unit="img", leave=False):
        images[i], caption, scene = ds[i]
        captions.append(caption)
        scenes.append(scene)
    return images, captions, scenes


def to_nchw(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` -> uint8 ``[N, 3, H, W]`` (contiguous)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mild pixel noise and occasional blur (uint8-range float ``[N,3,H,W]``), label-preserving.

    Generated samples are never as crisp as the renderer's; this keeps the judge robust to that.
    """
    x = x.float()
    n = x.shape[0]
    sigma = torch.rand(n, 1, 1, 1, generator=gen) * 8.0
    x = x + sigma * torch.randn(x.shape, generator=gen)
    blur = torch.rand(n, generator=gen) < 0.3
    if blur.any():
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None, :] / 16.0).expand(3, 1, 3, 3)
        x[blur] = F.conv2d(F.pad(x[blur], (1, 1, 1, 1), mode="replicate"), k, groups=3)
    return x.clamp(0, 255)


def environment() -> str:
    """One line for a model card: torch version, threads, machine."""
    return (
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"{platform.machine()} {platform.system()}"
    )
