"""``python -m bench.prompts OUT.csv [sweep options]``: the captions a sweep samples, for
programs that make images elsewhere (``--generator folder``).

Writes ``OUT.csv`` with one row per sample of a sweep with those options (caption source,
``--num-samples``, ``--seed``): ``index`` (the caption index that names the image,
``<method>/<scale>/<index>.png``), ``caption_id``, ``image_id``, ``caption`` and ``seed`` (the
per-sample seed every bench generator uses for that caption; another program may use it or
its own). The same rows serve as a ``manifest.csv`` template (add ``method``, ``scale``,
``file``).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from bench.metrics.context import default_cache_dir
from bench.spec import sample_seed
from bench.sweep import resolve_captions
from bench.sweep_options import config_from_args
from glide.errors import GlideError
from glide.io import atomic_write_text

COLUMNS = ("index", "caption_id", "image_id", "caption", "seed")
USAGE = (
    "usage: python -m bench.prompts OUT.csv [bench.sweep options: captions, --num-samples, --seed]"
)


def write_prompts(out: Path, argv: list[str]) -> int:
    """Write the prompts of the sweep ``argv`` describes to ``out``; returns the row count."""
    config = config_from_args(argv)
    cache_dir = config.output.cache_dir or default_cache_dir()
    captions = resolve_captions(config, cache_dir)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for entry in captions.entries[: config.num_samples]:
        seed = sample_seed(config.seed, entry.index)
        writer.writerow([entry.index, entry.caption_id, entry.image_id, entry.caption, seed])
    atomic_write_text(out, buffer.getvalue())
    return min(len(captions.entries), config.num_samples)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    try:
        n = write_prompts(Path(argv[0]), argv[1:])
    except GlideError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{argv[0]}: {n} prompts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
