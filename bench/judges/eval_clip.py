"""The evaluation CLIP: a small custom open_clip architecture trained on the synthetic set.

Three files in ``bench/judges/assets`` make it:

- ``glide-bench-eval-clip.json``: the architecture (ViT image tower on 64x64,
  causal text transformer), registered with ``open_clip.add_model_config`` under the model name
  ``glide-bench-eval-clip`` (open_clip names a config after its file);
- ``eval_clip_bpe.txt.gz``: byte-pair merges learned on the caption grammar's words, read by
  open_clip's own ``SimpleTokenizer`` (``get_tokenizer(name, bpe_path=...)``), so the token
  table is a few hundred rows instead of 49,408;
- ``eval_clip.pt``: the weights, loaded by ``open_clip.create_model_and_transforms(name,
  pretrained=<that file>)``.

Trained by ``python -m bench.judges.train clip`` (see ``EVAL_CLIP.md``); never the guide.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path

from bench._torchvision import ensure_torchvision
from bench.errors import BenchError

ASSETS = Path(__file__).resolve().parent / "assets"
MODEL_NAME = "glide-bench-eval-clip"
CONFIG_FILE = ASSETS / f"{MODEL_NAME}.json"
BPE_FILE = ASSETS / "eval_clip_bpe.txt.gz"
WEIGHTS_FILE = ASSETS / "eval_clip.pt"
BYTE_VOCAB = 512  # SimpleTokenizer: 256 byte symbols and their 256 end-of-word forms
SPECIAL_TOKENS = 2  # <start_of_text>, <end_of_text>


def grammar_words() -> list[str]:
    """Every word the synthetic caption grammar can produce (plus 'grey'), sorted."""
    from glide.data import grammar, scene

    text = " ".join(
        [t for ts in grammar.TEMPLATES.values() for t in ts]
        + [
            p
            for table in (
                grammar.SIZE_WORDS,
                grammar.POSITION_PHRASES,
                grammar.RELATION_PHRASES,
                grammar.COUNT_PHRASES,
            )
            for ps in table.values()
            for p in ps
        ]
        + list(scene.COLOURS)
        + list(scene.BACKGROUNDS)
        + list(scene.SHAPES)
        + list(scene.PLURALS.values())
        + ["grey"]
    )
    return sorted(set(re.findall(r"[a-z]+", re.sub(r"\{\w+\}", " ", text.lower()))))


def learn_bpe_merges(words: list[str]) -> list[tuple[str, str]]:
    """Byte-pair encoding learned on ``words`` (each counted once) until every word is one token.

    Most frequent adjacent pair first, ties broken by the pair itself, so the result is
    deterministic. Symbols follow open_clip's SimpleTokenizer: the last character of a word
    carries ``</w>``. Encoding a training word with these merges gives back one token.
    """
    if not all(re.fullmatch(r"[a-z]+", w) for w in words):
        raise BenchError("learn_bpe_merges: words must be lower-case ASCII letters")
    segs = {w: [*w[:-1], w[-1] + "</w>"] for w in words}
    merges: list[tuple[str, str]] = []
    while True:
        pairs = Counter(p for s in segs.values() for p in zip(s, s[1:], strict=False))
        if not pairs:
            return merges
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for w, s in segs.items():
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1])
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            segs[w] = out


def write_bpe_file(path: Path, merges: list[tuple[str, str]]) -> None:
    lines = ["#version: glide-bench eval CLIP merges (learned on the synthetic caption grammar)"]
    lines += [f"{a} {b}" for a, b in merges]
    # no final newline: SimpleTokenizer would read an empty last line as one more merge
    path.write_bytes(gzip.compress("\n".join(lines).encode("utf-8"), mtime=0))


def vocab_size(n_merges: int) -> int:
    return BYTE_VOCAB + n_merges + SPECIAL_TOKENS


def register_config(config_file: Path = CONFIG_FILE) -> str:
    """Register the architecture with open_clip (idempotent); returns the model name."""
    ensure_torchvision()
    import open_clip

    if MODEL_NAME not in open_clip.list_models():
        if not Path(config_file).is_file():
            raise BenchError(f"open_clip config {config_file} is missing")
        open_clip.add_model_config(config_file)
    return MODEL_NAME


def get_eval_tokenizer(bpe_file: Path = BPE_FILE):
    """open_clip's tokenizer for the registered architecture, with the grammar's merges."""
    ensure_torchvision()
    import open_clip

    register_config()
    if not Path(bpe_file).is_file():
        raise BenchError(
            f"eval CLIP merges {bpe_file} are missing; run `python -m bench.judges.train clip`"
        )
    return open_clip.get_tokenizer(MODEL_NAME, bpe_path=str(bpe_file))


def load_eval_clip(weights: Path = WEIGHTS_FILE, device: str = "cpu", bpe_file: Path = BPE_FILE):
    """``(model, preprocess, tokenizer)`` through open_clip's own factory, eval mode.

    ``preprocess`` maps a PIL image to a normalised ``[3, 64, 64]`` tensor (larger images are
    resized); ``model.encode_image`` / ``model.encode_text`` give ``[N, 64]`` embeddings.
    """
    ensure_torchvision()
    import open_clip

    weights = Path(weights)
    if not weights.is_file():
        raise BenchError(
            f"evaluation CLIP weights not found at {weights}; train them with "
            "`python -m bench.judges.train clip` (see bench/judges/assets/EVAL_CLIP.md)"
        )
    name = register_config()
    model, _, preprocess = open_clip.create_model_and_transforms(
        name, pretrained=str(weights), device=device
    )
    return model.eval(), preprocess, get_eval_tokenizer(bpe_file)
