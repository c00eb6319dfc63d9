"""Contrastive training of the evaluation CLIP (``python -m bench.judges.train clip``).

The loss is CLIP's symmetric cross entropy over the image-caption similarity matrix of a batch
(Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision",
Fig. 3), with open_clip's learnable temperature. Each step draws one of three paraphrases per
image, so the model sees the grammar's synonyms.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bench._torchvision import ensure_torchvision
from bench.judges.eval_clip import (
    MODEL_NAME,
    grammar_words,
    learn_bpe_merges,
    load_eval_clip,
    vocab_size,
    write_bpe_file,
)
from bench.judges.one_change_scenes import CHANGES, one_change
from bench.judges.training_data import BENCH_SEED, augment, environment, render_set
from glide.io import atomic_torch_save, sha256_file

PARAPHRASES = 3
CONTEXT_LENGTH = 24


def clip_config(n_vocab: int) -> dict:
    """The custom open_clip architecture: a tiny ModifiedResNet and a 2-layer text transformer."""
    return {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 12, "head_width": 64},
        "text_cfg": {
            "context_length": CONTEXT_LENGTH,
            "vocab_size": n_vocab,
            "width": 64,
            "heads": 4,
            "layers": 2,
        },
    }


def normalize_images(images_uint8: torch.Tensor) -> torch.Tensor:
    """``[N, 3, 64, 64]`` in 0..255 -> what open_clip's preprocess gives (ToTensor, Normalize)."""
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    mean = torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    return (images_uint8.float() / 255.0 - mean) / std


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor):
    """Symmetric InfoNCE over ``[N, D]`` L2-normalised embeddings (CLIP, Fig. 3)."""
    logits = logit_scale.exp().clamp(max=100) * image @ text.t()
    target = torch.arange(len(image))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def _save(model, path: Path, meta: dict) -> str:
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    atomic_torch_save({"state_dict": state, "meta": meta}, path)
    return sha256_file(path)


@torch.no_grad()
def retrieval_metrics(
    model, preprocess, tokenizer, images: np.ndarray, captions: list[str], group: int = 100
) -> dict:
    """Image -> caption top-1 within groups of ``group`` val images, through the real preprocess."""
    from PIL import Image

    model.eval()
    pixels = torch.stack([preprocess(Image.fromarray(im)) for im in images])
    img = F.normalize(
        torch.cat([model.encode_image(pixels[s : s + 500]) for s in range(0, len(pixels), 500)]),
        dim=-1,
    )
    txt = F.normalize(
        torch.cat(
            [
                model.encode_text(tokenizer(captions[s : s + 500]))
                for s in range(0, len(captions), 500)
            ]
        ),
        dim=-1,
    )
    hits, matched, unmatched = [], [], []
    for s in range(0, len(images) - group + 1, group):
        sim = img[s : s + group] @ txt[s : s + group].t()
        hits.append((sim.argmax(dim=1) == torch.arange(group)).float())
        matched.append(sim.diag())
        unmatched.append(sim[~torch.eye(group, dtype=torch.bool)])
    return {
        "top1": float(torch.cat(hits).mean()),
        "group": group,
        "n": int(len(torch.cat(hits))),
        "clip_score_matched": float(100 * torch.cat(matched).mean()),
        "clip_score_unmatched": float(100 * torch.cat(unmatched).mean()),
    }


PARTNER_CHANGES = {"layout": 0.6, "colour": 0.2, "shape": 0.2}


def partner_set(seed: int, n: int, tokenizer) -> tuple[np.ndarray, torch.Tensor]:
    """For items 0..n-1 of (seed, "val"): a rendered one-change partner and its captions.

    Returns uint8 ``[n, 64, 64, 3]`` and tokens ``[n, PARAPHRASES, CONTEXT_LENGTH]``.
    """
    from glide.data.grammar import make_caption
    from glide.data.render import render, sample_layout
    from glide.data.synthetic import SyntheticCaptions

    ds = SyntheticCaptions(seed, "val")
    kinds, probs = list(PARTNER_CHANGES), list(PARTNER_CHANGES.values())
    images = np.empty((n, 64, 64, 3), dtype=np.uint8)
    tokens = []
    for i in tqdm(range(n), desc="render partners", unit="img", leave=False):
        rng = np.random.default_rng([seed, 7, i])
        scene = one_change(ds.item(i).scene, rng, kinds[rng.choice(len(kinds), p=probs)])
        images[i] = render(sample_layout(scene, rng), 64)
        tokens.append(tokenizer([make_caption(scene, rng) for _ in range(PARAPHRASES)]))
    return images, torch.stack(tokens)


@torch.no_grad()
def one_change_preference(model, preprocess, tokenizer, seed: int, n: int) -> dict:
    """Share of val images whose true caption outscores the same caption with one change."""
    from PIL import Image

    from glide.data.grammar import make_caption
    from glide.data.synthetic import SyntheticCaptions

    ds = SyntheticCaptions(seed, "val")
    items = [ds[i] for i in range(n)]
    pixels = torch.stack([preprocess(Image.fromarray(image)) for image, _, _ in items])
    img = F.normalize(model.encode_image(pixels), dim=-1)
    true = F.normalize(model.encode_text(tokenizer([c for _, c, _ in items])), dim=-1)
    out: dict = {"n": n}
    for change in CHANGES:
        wrong = []
        for i, (_, _, scene) in enumerate(items):
            rng = np.random.default_rng([seed, 8, i])
            wrong.append(make_caption(one_change(scene, rng, change), rng))
        other = F.normalize(model.encode_text(tokenizer(wrong)), dim=-1)
        out[change] = float(((img * true).sum(-1) > (img * other).sum(-1)).float().mean())
    return out


def train_eval_clip(args) -> dict:
    ensure_torchvision()
    import open_clip

    from glide.data.synthetic import SyntheticCaptions

    out: Path = args.out
    merges = learn_bpe_merges(grammar_words())
    bpe = out / "eval_clip_bpe.txt.gz"
    write_bpe_file(bpe, merges)
    config = out / f"{MODEL_NAME}.json"
    config.write_text(json.dumps(clip_config(vocab_size(len(merges))), indent=2) + "\n")
    open_clip.add_model_config(config)  # a later path wins over the packaged one
    tokenizer = open_clip.get_tokenizer(MODEL_NAME, bpe_path=str(bpe))

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    images, _, _ = render_set(args.seed, "val", args.n_train, "render train")
    ds = SyntheticCaptions(args.seed, "val")
    tokens = torch.stack(
        [
            tokenizer(ds.paraphrases(i, PARAPHRASES))
            for i in tqdm(range(args.n_train), desc="tokenize", leave=False)
        ]
    )
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    partner_images, partner_tokens = partner_set(args.seed, args.n_train, tokenizer)
    x_partner = torch.from_numpy(partner_images).permute(0, 3, 1, 2).contiguous()
    x_all, tokens = torch.cat([x_all, x_partner]), torch.cat([tokens, partner_tokens])
    n = args.n_train
    model = open_clip.create_model(MODEL_NAME)
    opt = torch.optim.AdamW(model.parameters(), lr=args.clip_lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.clip_lr, total_steps=args.clip_steps, pct_start=0.1
    )
    losses, start, cpu_start = [], time.time(), time.process_time()
    model.train()
    for step in (bar := tqdm(range(args.clip_steps), desc="eval CLIP", unit="step")):
        # half the batch: random items; the other half: their one-change partners
        half = torch.randint(0, n, (args.clip_batch_size // 2,), generator=gen)
        idx = torch.cat([half, half + n])
        which = torch.randint(0, PARAPHRASES, (len(idx),), generator=gen)
        image = F.normalize(model.encode_image(normalize_images(augment(x_all[idx], gen))), dim=-1)
        text = F.normalize(model.encode_text(tokens[idx, which]), dim=-1)
        loss = contrastive_loss(image, text, model.logit_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    wall, cpu = time.time() - start, time.process_time() - cpu_start
    path = out / "eval_clip.pt"
    sha = _save(model, path, {"seed": args.seed, "steps": args.clip_steps})
    shipped, preprocess, tok = load_eval_clip(path, bpe_file=bpe)
    val_images, val_captions, _ = render_set(BENCH_SEED, "val", args.n_eval, "render val")
    metrics = retrieval_metrics(shipped, preprocess, tok, val_images, val_captions)
    metrics["one_change"] = one_change_preference(
        shipped, preprocess, tok, BENCH_SEED, min(args.n_eval, 1000)
    )
    n_params = sum(p.numel() for p in shipped.parameters())
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "final_loss": float(np.mean(losses[-100:])),
        "sha256": sha,
        "metrics": metrics,
        "size_bytes": path.stat().st_size,
        "n_params": n_params,
        "n_merges": len(merges),
    }


def clip_card(args, result: dict, command: str) -> str:
    m = result["metrics"]
    oc = m["one_change"]
    config = json.dumps(clip_config(vocab_size(result["n_merges"])))
    return f"""# Evaluation CLIP (bench/judges/assets/eval_clip.pt)

A small custom open_clip architecture, `{MODEL_NAME}` ({result["n_params"]} parameters):
a ModifiedResNet image tower on 64x64 images and a 2-layer causal text transformer, 64-d joint
embedding. Config: `bench/judges/assets/{MODEL_NAME}.json`
(`{config}`), registered with `open_clip.add_model_config`; tokenizer: open_clip's
`SimpleTokenizer` with {result["n_merges"]} byte-pair merges learned on the caption grammar's
words (`bench/judges/assets/eval_clip_bpe.txt.gz`, every grammar word is one token). Load with
`bench.judges.embedded.load_eval_clip()`, which goes through `open_clip.create_model_and_transforms(
"{MODEL_NAME}", pretrained=<eval_clip.pt>)` and `open_clip.get_tokenizer`. It computes the
embedded benchmark's CLIP score; it never guides sampling.

- Training command: `{command}`
- Data: `SyntheticCaptions(seed={args.seed}, split="val")`, first {args.n_train} images with
  {PARAPHRASES} paraphrases each (one drawn per step), pixel-noise/blur augmentation; half of
  each batch is random items, the other half their one-change partners
  (`bench/judges/one_change_scenes.py`: another position, the opposite relation or the other
  count with p=0.6, another colour or shape of the first object with p=0.2 each), rendered, as
  hard negatives.
- Objective: CLIP's symmetric contrastive loss, learnable temperature.
- Steps: {args.clip_steps} at batch {args.clip_batch_size}, AdamW (weight decay 0.05), one-cycle
  LR (max {args.clip_lr}).
- Wall time: {result["wall_s"]:.0f} s, CPU time {result["cpu_s"]:.0f} s ({environment()}).
- Final training loss (mean of the last 100 steps): {result["final_loss"]:.4f}
- Weights stored in float16 ({result["size_bytes"]} bytes); metrics below use the shipped file.
- sha256: `{result["sha256"]}`

## Retrieval on the benchmark's real val images

`SyntheticCaptions(seed={BENCH_SEED}, split="val")`, first {m["n"]} images, in groups of
{m["group"]}: each image ranks the {m["group"]} captions of its group.

- image -> caption top-1: **{m["top1"]:.4f}**
- true caption scored above the same caption with one change (first {oc["n"]} images):
  layout (position / relation / count) {oc["layout"]:.4f}, colour {oc["colour"]:.4f},
  shape {oc["shape"]:.4f}
- mean CLIP score (100 cos) of matching pairs: {m["clip_score_matched"]:.2f}; of non-matching
  pairs: {m["clip_score_unmatched"]:.2f}
"""
