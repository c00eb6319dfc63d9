"""Text tokenizers: GLIDE's GPT-2 byte-level BPE and the CLIP BPE of the noised CLIP.

Both are byte-pair encoders (Sennrich et al., 2016) over a reversible byte -> printable-character
table (Radford et al., 2019, "Language Models are Unsupervised Multitask Learners", sec. 2.2):

- :class:`GlideTokenizer` feeds the GLIDE text transformer. The caption is lower-cased, split
  with the GPT-2 pattern and BPE-encoded; there are no start/end tokens. ``encode_batch`` keeps
  the first ``text_ctx`` ids and right-pads with 50256; the mask is True for kept ids. The empty
  caption gives an all-padding row with an all-False mask: the unconditional row of
  classifier-free guidance (GLIDE paper, sec. 2.3).
- :class:`CLIPTokenizer` feeds the noised CLIP text encoder (GLIDE paper, sec. 2.4). The caption
  is cleaned (ftfy, HTML entities, whitespace), lower-cased and BPE-encoded with an end-of-word
  marker ``</w>``; ``encode_batch`` frames it as [49406] + ids + [49407] and zero-pads to 77.

Captions longer than the context are truncated as the reference does, but never silently: a
:class:`TokenTruncationWarning` names the caption, or ``on_truncate="raise"`` raises.
The vocabularies are package data in ``glide/vocab/`` (MIT, see its README).
"""

from __future__ import annotations

import gzip
import html
import json
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources

import regex
import torch

from glide.errors import GlideError

__all__ = [
    "CLIPTokenizer",
    "GlideTokenizer",
    "TokenTruncationWarning",
    "byte_to_unicode",
    "get_clip_tokenizer",
    "get_glide_tokenizer",
]

# GPT-2 pre-tokenization: contractions, letter runs, digit runs and other-symbol runs, each with
# at most one leading space; whitespace runs keep their last space for the following word.
_GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# CLIP pre-tokenization: the two special strings, contractions, letter runs, SINGLE digits and
# other-symbol runs; whitespace is dropped (it is implied by the ``</w>`` end-of-word marker).
_CLIP_PATTERN = (
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
)
_ON_TRUNCATE = ("warn", "raise")
_CLIP_MERGES = 49152 - 256 - 2  # merges used by CLIP: 49408 ids = 2*256 + merges + 2 specials


class TokenTruncationWarning(UserWarning):
    """A caption had more tokens than the context holds; the tail was dropped."""


@lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """The reversible byte -> character table of GPT-2's byte-level BPE.

    The 188 bytes that are printable Latin-1 characters ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
    themselves; the other 68 bytes (controls, space, soft hyphen, ...) are mapped, in byte order,
    to the characters U+0100, U+0101, ... so that no symbol is whitespace or a control character.
    The dict's insertion order (printable bytes first) is the order of CLIP's base vocabulary.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _bpe_merge(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Apply BPE to one pre-token: repeatedly merge the adjacent pair with the lowest rank.

    All non-overlapping occurrences of the chosen pair are merged in one left-to-right pass;
    stops when no adjacent pair has a rank.
    """
    while len(symbols) > 1:
        best_rank, best = None, None
        for pair in zip(symbols, symbols[1:], strict=False):
            rank = ranks.get(pair)
            if rank is not None and (best_rank is None or rank < best_rank):
                best_rank, best = rank, pair
        if best is None:
            break
        first, second = best
        merged: list[str] = []
        i = 0
        while i < len(symbols):
            if i + 1 < len(symbols) and symbols[i] == first and symbols[i + 1] == second:
                merged.append(first + second)
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return symbols


def _read_vocab_text(name: str) -> str:
    """Text of the gzip'd package-data file ``glide/vocab/<name>``."""
    resource = resources.files("glide.vocab").joinpath(name)
    try:
        with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
            return text.read()
    except FileNotFoundError as exc:  # a broken install, not a user mistake we can fix here
        raise GlideError(
            f"tokenizer vocabulary {name!r} is missing from the glide package (glide/vocab/); "
            "reinstall glide-bench so that its package data is included"
        ) from exc


def _parse_merges(text: str, limit: int | None = None) -> dict[tuple[str, str], int]:
    """Merge list -> {pair: rank}. Skips the header line and the trailing empty line."""
    lines = text.split("\n")[1:]
    if limit is not None:
        lines = lines[:limit]
    ranks: dict[tuple[str, str], int] = {}
    for rank, line in enumerate(lines):
        if not line:
            continue
        first, second = line.split()
        ranks[(first, second)] = rank
    return ranks


def _check_on_truncate(on_truncate: str) -> None:
    if on_truncate not in _ON_TRUNCATE:
        raise GlideError(f"on_truncate={on_truncate!r} is not one of {list(_ON_TRUNCATE)}")


def _check_captions(captions: Sequence[str]) -> list[str]:
    if isinstance(captions, str):
        raise GlideError(
            f"captions={captions!r} is a single string; pass a list of captions, e.g. [caption]"
        )
    captions = list(captions)
    for i, caption in enumerate(captions):
        if not isinstance(caption, str):
            raise GlideError(
                f"captions[{i}]={caption!r} is a {type(caption).__name__}; captions must be str"
            )
    return captions


def _report_truncation(
    index: int, caption: str, n_tokens: int, kept: int, what: str, on_truncate: str
) -> None:
    shown = caption if len(caption) <= 200 else caption[:197] + "..."
    message = (
        f"caption {index} ({shown!r}) has {n_tokens} {what} tokens but the context holds "
        f"{kept}; the last {n_tokens - kept} tokens were dropped"
    )
    if on_truncate == "raise":
        raise GlideError(message + " (on_truncate='raise'; shorten the caption)")
    warnings.warn(message, TokenTruncationWarning, stacklevel=3)


class GlideTokenizer:
    """GLIDE's text tokenizer: lower-cased GPT-2 byte-level BPE, 50257 ids, pad id 50256."""

    def __init__(self, encoder: dict[str, int], ranks: dict[tuple[str, str], int]) -> None:
        self.encoder = encoder
        self.decoder = {i: s for s, i in encoder.items()}
        self.ranks = ranks
        self.byte_encoder = byte_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        self._pattern = regex.compile(_GPT2_PATTERN)
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def from_package_data(cls) -> GlideTokenizer:
        encoder = json.loads(_read_vocab_text("encoder.json.gz"))
        return cls(encoder, _parse_merges(_read_vocab_text("vocab.bpe.gz")))

    @property
    def n_vocab(self) -> int:
        return len(self.encoder)

    @property
    def end_token(self) -> int:
        """The id of ``<|endoftext|>`` (50256), used as padding."""
        return self.n_vocab - 1

    pad_token = end_token

    def _encode_word(self, word: str) -> list[int]:
        ids = self._cache.get(word)
        if ids is None:
            symbols = [self.byte_encoder[b] for b in word.encode("utf-8")]
            ids = [self.encoder[s] for s in _bpe_merge(symbols, self.ranks)]
            if len(self._cache) < 100_000:
                self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (lower-cased first); no start/end tokens, no padding."""
        if not isinstance(text, str):
            raise GlideError(f"text={text!r} is a {type(text).__name__}; expected a str")
        ids: list[int] = []
        for word in self._pattern.findall(text.lower()):
            ids.extend(self._encode_word(word))
        return ids

    def decode(self, tokens: Iterable[int]) -> str:
        """Text of ``tokens`` (invalid UTF-8 byte sequences become U+FFFD)."""
        try:
            chars = "".join(self.decoder[int(t)] for t in tokens)
        except KeyError as exc:
            raise GlideError(
                f"token id {exc.args[0]} is not in the GLIDE vocabulary (0..{self.n_vocab - 1})"
            ) from None
        return bytes(self.byte_decoder[c] for c in chars).decode("utf-8", errors="replace")

    def padded_tokens_and_mask(self, tokens: Sequence[int], text_ctx: int) -> tuple[list, list]:
        """First ``text_ctx`` ids right-padded with 50256, and the mask of kept ids."""
        kept = list(tokens[:text_ctx])
        n_pad = text_ctx - len(kept)
        return kept + [self.end_token] * n_pad, [True] * len(kept) + [False] * n_pad

    def encode_batch(
        self,
        captions: Sequence[str],
        text_ctx: int,
        *,
        on_truncate: str = "warn",
        device: torch.device | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens and mask for a batch of captions.

        Returns ``(tokens, mask)``: LongTensor [N, text_ctx] and BoolTensor [N, text_ctx]. A caption
        longer than ``text_ctx`` tokens keeps its first ``text_ctx`` ids and emits a
        :class:`TokenTruncationWarning` (``on_truncate="raise"`` raises :class:`GlideError`).
        """
        captions = _check_captions(captions)
        _check_on_truncate(on_truncate)
        if isinstance(text_ctx, bool) or not isinstance(text_ctx, int) or text_ctx < 1:
            raise GlideError(f"text_ctx={text_ctx!r} must be a positive int (GLIDE uses 128)")
        rows, masks = [], []
        for i, caption in enumerate(captions):
            ids = self.encode(caption)
            if len(ids) > text_ctx:
                _report_truncation(i, caption, len(ids), text_ctx, "GLIDE", on_truncate)
            row, mask = self.padded_tokens_and_mask(ids, text_ctx)
            rows.append(row)
            masks.append(mask)
        tokens = torch.tensor(rows, dtype=torch.long, device=device).reshape(-1, text_ctx)
        mask = torch.tensor(masks, dtype=torch.bool, device=device).reshape(-1, text_ctx)
        return tokens, mask


class CLIPTokenizer:
    """The CLIP tokenizer of GLIDE's noised CLIP: cleaned, lower-cased BPE with ``</w>``."""

    start_token = 49406
    end_token = 49407
    pad_token = 0

    def __init__(self, ranks: dict[tuple[str, str], int]) -> None:
        self.byte_encoder = byte_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        base = list(self.byte_encoder.values())
        merges = sorted(ranks, key=ranks.__getitem__)
        vocab = base + [s + "</w>" for s in base] + ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = {s: i for i, s in enumerate(vocab)}
        self.decoder = dict(enumerate(vocab))
        self.ranks = ranks
        self._pattern = regex.compile(_CLIP_PATTERN, regex.IGNORECASE)
        self._cache: dict[str, list[int]] = {}
        assert self.encoder["<|startoftext|>"] == self.start_token, "CLIP vocabulary mismatch"
        assert self.encoder["<|endoftext|>"] == self.end_token, "CLIP vocabulary mismatch"

    @classmethod
    def from_package_data(cls) -> CLIPTokenizer:
        text = _read_vocab_text("bpe_simple_vocab_16e6.txt.gz")
        return cls(_parse_merges(text, limit=_CLIP_MERGES))

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    @staticmethod
    def clean(text: str) -> str:
        """ftfy repair, HTML-unescape twice, collapse whitespace, strip, lower-case."""
        import ftfy  # imported here: only the CLIP tokenizer needs it

        text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
        return regex.sub(r"\s+", " ", text).strip().lower()

    def _encode_word(self, word: str) -> list[int]:
        ids = self._cache.get(word)
        if ids is None:
            if word in ("<|startoftext|>", "<|endoftext|>"):
                ids = [self.encoder[word]]
            else:
                symbols = [self.byte_encoder[b] for b in word.encode("utf-8")]
                symbols[-1] += "</w>"
                ids = [self.encoder[s] for s in _bpe_merge(symbols, self.ranks)]
            if len(self._cache) < 100_000:
                self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of the cleaned ``text``; no start/end framing, no padding."""
        if not isinstance(text, str):
            raise GlideError(f"text={text!r} is a {type(text).__name__}; expected a str")
        ids: list[int] = []
        for word in self._pattern.findall(self.clean(text)):
            ids.extend(self._encode_word(word))
        return ids

    def decode(self, tokens: Iterable[int]) -> str:
        """Text of ``tokens``; every end-of-word marker becomes a space."""
        try:
            chars = "".join(self.decoder[int(t)] for t in tokens)
        except KeyError as exc:
            raise GlideError(
                f"token id {exc.args[0]} is not in the CLIP vocabulary (0..{self.vocab_size - 1})"
            ) from None
        raw = bytes(self.byte_decoder[c] for c in chars)
        return raw.decode("utf-8", errors="replace").replace("</w>", " ")

    def padded_tokens_and_len(self, tokens: Sequence[int], context_length: int) -> tuple[list, int]:
        """[start] + first ``context_length - 2`` ids + [end], zero-padded; and its length."""
        framed = [self.start_token, *tokens[: context_length - 2], self.end_token]
        return framed + [self.pad_token] * (context_length - len(framed)), len(framed)

    def encode_batch(
        self,
        captions: Sequence[str],
        context_length: int = 77,
        *,
        on_truncate: str = "warn",
        device: torch.device | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens and lengths for a batch of captions.

        Returns ``(tokens, text_len)``: LongTensor [N, context_length] and LongTensor [N];
        ``text_len`` counts the start and end tokens, so the end token sits at ``text_len - 1``
        (where the CLIP text encoder pools). A caption longer than ``context_length - 2`` tokens
        emits a :class:`TokenTruncationWarning` (``on_truncate="raise"`` raises).
        """
        captions = _check_captions(captions)
        _check_on_truncate(on_truncate)
        if isinstance(context_length, bool) or not isinstance(context_length, int):
            raise GlideError(f"context_length={context_length!r} must be an int (CLIP uses 77)")
        if context_length < 2:
            raise GlideError(
                f"context_length={context_length} leaves no room for the start and end tokens; "
                "use at least 2 (CLIP uses 77)"
            )
        rows, lengths = [], []
        for i, caption in enumerate(captions):
            ids = self.encode(caption)
            if len(ids) > context_length - 2:
                _report_truncation(i, caption, len(ids), context_length - 2, "CLIP", on_truncate)
            row, length = self.padded_tokens_and_len(ids, context_length)
            rows.append(row)
            lengths.append(length)
        tokens = torch.tensor(rows, dtype=torch.long, device=device).reshape(-1, context_length)
        return tokens, torch.tensor(lengths, dtype=torch.long, device=device)


@lru_cache(maxsize=1)
def get_glide_tokenizer() -> GlideTokenizer:
    """The GLIDE tokenizer, loaded once from package data."""
    return GlideTokenizer.from_package_data()


@lru_cache(maxsize=1)
def get_clip_tokenizer() -> CLIPTokenizer:
    """The CLIP tokenizer, loaded once from package data."""
    return CLIPTokenizer.from_package_data()
