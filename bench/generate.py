"""Generating the images of one run into its folder: sharded, batched, resumable.

Every image goes ``generator -> temp file -> os.replace -> manifest line``, so an interrupted
run leaves only whole images with records, whole images without records (made again) and temp
files that are ignored. A finished run generates nothing. Batches are fixed blocks of indices
(:func:`bench.distributed.shard_blocks`): a block with any image missing is generated again as
the same whole batch, so resumed and sharded runs give the same bytes as one uninterrupted
process (with the same ``--batch-size``; across batch sizes, images agree up to the float
rounding of the kernels). Memory does not grow with the number of samples: one batch at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from bench.captions import CaptionSet
from bench.cost import record_cost
from bench.distributed import DistInfo, shard_blocks
from bench.generators import GenerateFn
from bench.images import write_png
from bench.runfolder import RunFolder, image_name
from bench.spec import sample_seed


@dataclass(frozen=True)
class GenerationStats:
    run_id: str
    label: str
    generated: int
    skipped: int
    seconds: float


def generate_run(
    folder: RunFolder,
    captions: CaptionSet,
    generate: GenerateFn,
    *,
    batch_size: int,
    dist: DistInfo = DistInfo(),
    progress: bool = True,
    device: str = "cpu",
) -> GenerationStats:
    """Make this process's share of the run's missing images (blocks ``k % world == rank``).
    The generator calls are timed; rank 0 records the run's cost in ``cost.json``
    (:mod:`bench.cost`, with ``device``). A run with a guidance interval passes it to the
    generator as ``guidance_interval=``."""
    spec = folder.spec
    settings = spec.settings
    n = settings.num_samples
    if len(captions.entries) < n:
        raise AssertionError("caption set smaller than the run's num_samples")
    folder.prepare()
    done = folder.read_manifest()
    blocks = shard_blocks(n, batch_size, dist)
    mine = [i for block in blocks for i in block]
    todo = [i for i in mine if i not in done]
    size = settings.resolution
    extra = {} if spec.guidance_interval is None else {"guidance_interval": spec.guidance_interval}
    generating, made = 0.0, 0
    start = time.perf_counter()
    desc = spec.label if not dist.enabled else f"{spec.label} [rank {dist.rank}]"
    with tqdm(
        total=len(mine),
        initial=len(mine) - len(todo),
        desc=desc,
        unit="img",
        disable=not progress,
        position=dist.rank if dist.enabled else None,
        dynamic_ncols=True,
    ) as bar:
        for block in blocks:
            if all(i in done for i in block):
                continue
            indices = list(block)
            entries = [captions.entries[i] for i in indices]
            seeds = [sample_seed(settings.seed, i) for i in indices]
            began = time.perf_counter()
            images = np.asarray(
                generate([e.caption for e in entries], seeds, spec.method, spec.scale, **extra)
            )
            generating += time.perf_counter() - began
            made += len(indices)
            if images.dtype != np.uint8 or images.shape != (len(indices), size, size, 3):
                raise AssertionError(
                    f"generator returned {images.dtype} {images.shape}, "
                    f"expected uint8 {(len(indices), size, size, 3)}"
                )
            records = []
            for entry, seed, image in zip(entries, seeds, images, strict=True):
                if entry.index in done:
                    continue  # already in place (same bytes): keep the file and its record
                name = image_name(entry.index, n)
                write_png(folder.path / name, image)
                records.append(
                    {
                        "index": entry.index,
                        "caption_id": entry.caption_id,
                        "image_id": entry.image_id,
                        "caption": entry.caption,
                        "seed": seed,
                        "file": name,
                    }
                )
            folder.append(records)
            bar.update(len(records))
    if dist.is_main:
        record_cost(
            folder.path, spec, images=made, seconds=generating, device=device,
            batch_size=batch_size,
        )  # fmt: skip
    return GenerationStats(
        spec.run_id, spec.label, len(todo), len(mine) - len(todo), time.perf_counter() - start
    )
