"""Train the embedded benchmark's evaluation networks (CPU, a few minutes each).

    python -m bench.judges.train classifier   # attribute classifier -> bench/judges/assets
    python -m bench.judges.train clip         # evaluation open_clip model -> bench/judges/assets
    python -m bench.judges.train all

Both train on ``SyntheticCaptions(seed=1729, split="val")``: the full attribute distribution
(held-out colour/shape pairs included, since the judge must read every caption), from a seed
the GLIDE models never see (they train on seed 0 ``train``; the benchmark evaluates seed 0
``val``). Final metrics are measured on seed 0 ``val``, i.e. on the benchmark's own images, with
the weights exactly as shipped (fp16), and written into each model card with its sha256.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bench.errors import BenchError
from bench.judges.attributes import (
    HEAD_NAMES,
    IGNORE,
    matches,
    predict_labels,
    scene_labels,
    split_logits,
)
from bench.judges.classifier import AttributeNet, load_classifier_file, save_classifier
from bench.judges.train_clip import clip_card, train_eval_clip
from bench.judges.training_data import (
    BENCH_SEED,
    EVAL_SEED,
    augment,
    environment,
    render_set,
    to_nchw,
)
from glide.errors import GlideError
from glide.io import atomic_write_text as _write_text


def classifier_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over heads of the cross entropy, unconstrained heads ignored."""
    total = logits.new_zeros(())
    for h, head_logits in enumerate(split_logits(logits)):
        if (labels[:, h] != IGNORE).any():
            total = total + F.cross_entropy(head_logits, labels[:, h], ignore_index=IGNORE)
    return total


@torch.no_grad()
def evaluate_classifier(model: AttributeNet, images: np.ndarray, scenes, batch: int = 500):
    model.eval()
    logits = torch.cat(
        [model(to_nchw(images[s : s + batch])) for s in range(0, len(images), batch)]
    )
    predicted = predict_labels(logits.numpy())
    target = np.stack([scene_labels(s) for s in scenes])
    ok = matches(predicted, target)
    heldout = np.array([s.heldout for s in scenes])
    per_head = {
        h: float(np.mean(predicted[target[:, i] != IGNORE, i] == target[target[:, i] != IGNORE, i]))
        for i, h in enumerate(HEAD_NAMES)
    }
    return {
        "exact_match": float(ok.mean()),
        "n": int(len(ok)),
        "exact_match_heldout_pairs": float(ok[heldout].mean()),
        "n_heldout": int(heldout.sum()),
        "per_head": per_head,
    }


def train_classifier(args) -> dict:
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    images, _, scenes = render_set(args.seed, "val", args.n_train, "render train")
    labels = torch.from_numpy(np.stack([scene_labels(s) for s in scenes]))
    x_all = to_nchw(images)
    model = AttributeNet(width=args.width)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1
    )
    start, cpu_start = time.time(), time.process_time()
    losses = []
    model.train()
    for _step in (bar := tqdm(range(args.steps), desc="classifier", unit="step")):
        idx = torch.randint(0, len(x_all), (args.batch_size,), generator=gen)
        logits = model(augment(x_all[idx], gen))
        loss = classifier_loss(logits, labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss))
        if _step % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    wall, cpu = time.time() - start, time.process_time() - cpu_start
    meta = {"seed": args.seed, "steps": args.steps, "n_train": args.n_train}
    sha = save_classifier(model, args.out / "attribute_classifier.pt", meta)
    shipped = load_classifier_file(args.out / "attribute_classifier.pt")
    val_images, _, val_scenes = render_set(BENCH_SEED, "val", args.n_eval, "render val")
    metrics = evaluate_classifier(shipped, val_images, val_scenes)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "final_loss": float(np.mean(losses[-100:])),
        "sha256": sha,
        "metrics": metrics,
        "file": "attribute_classifier.pt",
        "size_bytes": (args.out / "attribute_classifier.pt").stat().st_size,
    }


def classifier_card(args, result: dict, command: str) -> str:
    m = result["metrics"]
    heads = "\n".join(f"| {h} | {v:.4f} |" for h, v in m["per_head"].items())
    return f"""# Attribute classifier (bench/judges/assets/attribute_classifier.pt)

A small CNN (5 conv blocks, width {args.width}, a 256-d feature layer, 8 heads; see
`bench/judges/classifier.py` and `bench/judges/attributes.py`) that reads a synthetic scene's
attributes from a 64x64 image: background, arrangement (single object position / two or three
identical objects / vertical or horizontal pair), and shape, colour and size of each object. It
is the judge of `caption_match` and the image network of the `glide-bench-synth` torch-fidelity
extractor (features: the 256-d layer; IS logits: log p(shape) + log p(colour) of the first
object, 35 classes).

- Training command: `{command}`
- Data: `SyntheticCaptions(seed={args.seed}, split="val")`, first {args.n_train} items (all
  attribute combinations, held-out pairs included; a seed the GLIDE models never see), mild
  pixel-noise and blur augmentation.
- Steps: {args.steps} at batch {args.batch_size}, AdamW, one-cycle LR (max {args.lr}).
- Wall time: {result["wall_s"]:.0f} s, CPU time {result["cpu_s"]:.0f} s ({environment()}).
- Final training loss (mean of the last 100 steps): {result["final_loss"]:.4f}
- Weights stored in float16 ({result["size_bytes"]} bytes); metrics below use the shipped file.
- sha256: `{result["sha256"]}`

## Accuracy on the benchmark's real val images

`SyntheticCaptions(seed={BENCH_SEED}, split="val")`, first {m["n"]} images (the benchmark's
reference set), exact match of all captioned attributes:

- exact match: **{m["exact_match"]:.4f}** (n = {m["n"]})
- on images with a held-out colour/shape pair: {m["exact_match_heldout_pairs"]:.4f}
  (n = {m["n_heldout"]})

| head | accuracy |
| --- | --- |
{heads}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.judges.train", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "what", choices=("classifier", "clip", "all"), help="which network to train"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "assets",
        help="where weights and model cards go (default bench/judges/assets)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=EVAL_SEED,
        help=f"data and init seed (default {EVAL_SEED}; never 0, the GLIDE seed)",
    )
    parser.add_argument("--n-train", type=int, default=30000, help="training images")
    parser.add_argument(
        "--n-eval",
        type=int,
        default=2000,
        help="benchmark val images the final metrics are measured on",
    )
    parser.add_argument("--steps", type=int, default=2500, help="classifier optimiser steps")
    parser.add_argument("--batch-size", type=int, default=64, help="classifier batch size")
    parser.add_argument("--lr", type=float, default=3e-3, help="classifier peak learning rate")
    parser.add_argument("--width", type=int, default=24, help="classifier base width")
    parser.add_argument("--clip-steps", type=int, default=1200, help="CLIP optimiser steps")
    parser.add_argument("--clip-batch-size", type=int, default=128, help="CLIP batch size")
    parser.add_argument("--clip-lr", type=float, default=2e-3, help="CLIP peak learning rate")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: on a shared 2-core machine, extra threads mostly spin)",
    )
    args = parser.parse_args(argv)
    command = "python -m bench.judges.train " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        if args.seed == BENCH_SEED:
            raise BenchError(f"--seed: {args.seed} is the benchmark/GLIDE seed; use another")
        for name in ("n_train", "n_eval", "steps", "batch_size", "clip_steps", "threads"):
            if getattr(args, name) < 1:
                raise BenchError(f"--{name.replace('_', '-')}: {getattr(args, name)}; give >= 1")
        torch.set_num_threads(args.threads)
        args.out.mkdir(parents=True, exist_ok=True)
        if args.what in ("classifier", "all"):
            result = train_classifier(args)
            _write_text(
                args.out / "ATTRIBUTE_CLASSIFIER.md", classifier_card(args, result, command)
            )
            print(
                f"classifier: exact match {result['metrics']['exact_match']:.4f} on "
                f"{result['metrics']['n']} val images, {result['wall_s']:.0f} s"
            )
        if args.what in ("clip", "all"):
            result = train_eval_clip(args)
            _write_text(args.out / "EVAL_CLIP.md", clip_card(args, result, command))
            print(f"eval CLIP: top-1 {result['metrics']['top1']:.4f}, {result['wall_s']:.0f} s")
    except GlideError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
