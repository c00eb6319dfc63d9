"""Tokenizers against the reference goldens (exact), truncation reporting, round trips."""

from __future__ import annotations

import hashlib
import json
import warnings
from importlib import resources
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from glide.errors import GlideError
from glide.tokenizer import (
    CLIPTokenizer,
    GlideTokenizer,
    TokenTruncationWarning,
    byte_to_unicode,
    get_clip_tokenizer,
    get_glide_tokenizer,
)

VOCAB_SHA256 = {
    "encoder.json.gz": "4debc1cf25180021b07744bc9f4488d53c7bf112c8ce5de8097c6a7518f4ec7c",
    "vocab.bpe.gz": "ce239dd5a898827423fee00e3f7ab37de7900f247f2ba360753d860e8a46524d",
    "bpe_simple_vocab_16e6.txt.gz": (
        "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
    ),
}


def _golden(reference_dir: Path, name: str) -> dict:
    return json.loads((reference_dir / "golden_small" / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def glide_golden(reference_dir: Path) -> dict:
    return _golden(reference_dir, "tokenizer_glide.json")


@pytest.fixture(scope="module")
def clip_golden(reference_dir: Path) -> dict:
    return _golden(reference_dir, "tokenizer_clip.json")


# ---------------------------------------------------------------- package data


@pytest.mark.parametrize("name", sorted(VOCAB_SHA256))
def test_vocab_files_are_unchanged_package_data(name: str, reference_dir: Path) -> None:
    data = resources.files("glide.vocab").joinpath(name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == VOCAB_SHA256[name]
    assert data == (reference_dir / "vocab" / name).read_bytes()


def test_vocab_license_ships_with_the_data() -> None:
    folder = resources.files("glide.vocab")
    assert "MIT License" in folder.joinpath("LICENSE").read_text(encoding="utf-8")
    assert "69b530740eb6cef69442d6180579ef5ba9ef063e" in folder.joinpath("README.md").read_text(
        encoding="utf-8"
    )


def test_byte_table_is_a_bijection_onto_printable_characters() -> None:
    table = byte_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert all(c.isprintable() and not c.isspace() for c in table.values())
    assert table[ord("a")] == "a" and table[ord(" ")] == "\u0120"


def test_tokenizers_are_cached() -> None:
    assert get_glide_tokenizer() is get_glide_tokenizer()
    assert get_clip_tokenizer() is get_clip_tokenizer()
    assert isinstance(get_glide_tokenizer(), GlideTokenizer)
    assert isinstance(get_clip_tokenizer(), CLIPTokenizer)


# ---------------------------------------------------------------- GLIDE goldens


def test_glide_golden_has_21_rows(glide_golden: dict) -> None:
    assert len(glide_golden["rows"]) == 21
    tok = get_glide_tokenizer()
    assert tok.n_vocab == glide_golden["n_vocab"] == 50257
    assert tok.end_token == tok.pad_token == glide_golden["end_token (used as padding)"]


def test_glide_encode_decode_match_golden(glide_golden: dict) -> None:
    tok = get_glide_tokenizer()
    for row in glide_golden["rows"]:
        tokens = tok.encode(row["caption"])
        assert tokens == row["tokens"], row["caption"]
        assert len(tokens) == row["num_tokens"], row["caption"]
        assert tok.decode(tokens) == row["decoded"], row["caption"]


@pytest.mark.parametrize("text_ctx", [128, 16])
def test_glide_encode_batch_matches_golden(glide_golden: dict, text_ctx: int) -> None:
    tok = get_glide_tokenizer()
    rows = glide_golden["rows"]
    captions = [row["caption"] for row in rows]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tokens, mask = tok.encode_batch(captions, text_ctx)
    assert tokens.dtype == torch.long and mask.dtype == torch.bool
    assert tokens.shape == mask.shape == (21, text_ctx)
    assert tokens.tolist() == [row[f"padded_tokens_{text_ctx}"] for row in rows]
    assert mask.tolist() == [row[f"mask_{text_ctx}"] for row in rows]
    # exactly the over-long captions were reported, each by name
    long_rows = [row for row in rows if row["num_tokens"] > text_ctx]
    assert long_rows, "the golden set has captions longer than both contexts"
    messages = [str(w.message) for w in caught if issubclass(w.category, TokenTruncationWarning)]
    assert len(messages) == len(long_rows)
    for row, message in zip(long_rows, messages, strict=True):
        assert repr(row["caption"][:100])[1:-1] in message
        assert f"has {row['num_tokens']} GLIDE tokens" in message
        assert f"holds {text_ctx}" in message


def test_glide_empty_caption_is_the_unconditional_row() -> None:
    tokens, mask = get_glide_tokenizer().encode_batch(["", "a corgi"], 8)
    assert tokens[0].tolist() == [50256] * 8
    assert not mask[0].any()
    assert mask[1].sum() == len(get_glide_tokenizer().encode("a corgi"))


def test_glide_empty_batch_has_the_right_shape() -> None:
    tokens, mask = get_glide_tokenizer().encode_batch([], 16)
    assert tokens.shape == mask.shape == (0, 16)


def test_glide_lower_cases_input() -> None:
    tok = get_glide_tokenizer()
    assert tok.encode("A CORGI") == tok.encode("a corgi")


# ---------------------------------------------------------------- CLIP goldens


def test_clip_golden_has_21_rows(clip_golden: dict) -> None:
    assert len(clip_golden["rows"]) == 21
    tok = get_clip_tokenizer()
    assert tok.vocab_size == clip_golden["vocab_size"] == 49408
    assert tok.start_token == clip_golden["start_token"]
    assert tok.end_token == clip_golden["end_token"]
    assert tok.pad_token == clip_golden["pad_token"]


def test_clip_encode_decode_match_golden(clip_golden: dict) -> None:
    tok = get_clip_tokenizer()
    for row in clip_golden["rows"]:
        tokens = tok.encode(row["caption"])
        assert tokens == row["tokens"], row["caption"]
        assert len(tokens) == row["num_tokens"], row["caption"]
        assert tok.decode(tokens) == row["decoded"], row["caption"]


def test_clip_encode_batch_matches_golden(clip_golden: dict) -> None:
    tok = get_clip_tokenizer()
    rows = clip_golden["rows"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tokens, text_len = tok.encode_batch([row["caption"] for row in rows])
    assert tokens.dtype == text_len.dtype == torch.long
    assert tokens.shape == (21, 77) and text_len.shape == (21,)
    assert tokens.tolist() == [row["padded_tokens_77"] for row in rows]
    assert text_len.tolist() == [row["text_len_77"] for row in rows]
    # the end token sits where the text encoder pools
    assert (tokens[torch.arange(21), text_len - 1] == 49407).all()
    long_rows = [row for row in rows if row["num_tokens"] > 75]
    assert long_rows
    messages = [str(w.message) for w in caught if issubclass(w.category, TokenTruncationWarning)]
    assert len(messages) == len(long_rows)
    assert f"has {long_rows[0]['num_tokens']} CLIP tokens" in messages[0]


def test_clip_special_strings_are_special_ids() -> None:
    tok = get_clip_tokenizer()
    assert tok.encode("<|startoftext|>") == [49406]
    assert tok.encode("<|endoftext|>") == [49407]


# ---------------------------------------------------------------- truncation and arguments


def test_truncation_can_raise_instead_of_warning() -> None:
    caption = " ".join(["dog"] * 20)
    with pytest.raises(GlideError, match="20 GLIDE tokens"):
        get_glide_tokenizer().encode_batch([caption], 8, on_truncate="raise")
    with pytest.raises(GlideError, match="20 CLIP tokens"):
        get_clip_tokenizer().encode_batch([caption], 10, on_truncate="raise")


def test_no_warning_when_the_caption_fits() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        caption = " ".join(["dog"] * 8)
        assert len(get_glide_tokenizer().encode(caption)) == 8
        assert len(get_clip_tokenizer().encode(caption)) == 8
        get_glide_tokenizer().encode_batch([caption], 8)  # fits exactly
        get_clip_tokenizer().encode_batch([caption], 10)  # 8 + start + end


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"captions": "a corgi", "text_ctx": 16}, "single string"),
        ({"captions": ["a", 3], "text_ctx": 16}, r"captions\[1\]=3"),
        ({"captions": ["a"], "text_ctx": 0}, "text_ctx=0"),
        ({"captions": ["a"], "text_ctx": 16, "on_truncate": "ignore"}, "on_truncate='ignore'"),
    ],
)
def test_glide_bad_arguments_are_named(kwargs: dict, match: str) -> None:
    with pytest.raises(GlideError, match=match):
        get_glide_tokenizer().encode_batch(**kwargs)


def test_clip_bad_arguments_are_named() -> None:
    with pytest.raises(GlideError, match="context_length=1"):
        get_clip_tokenizer().encode_batch(["a"], 1)
    with pytest.raises(GlideError, match="single string"):
        get_clip_tokenizer().encode_batch("a corgi")
    with pytest.raises(GlideError, match="not in the CLIP vocabulary"):
        get_clip_tokenizer().decode([49408])
    with pytest.raises(GlideError, match="not in the GLIDE vocabulary"):
        get_glide_tokenizer().decode([50257])


# ---------------------------------------------------------------- round trips


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=80))
def test_glide_round_trip_ascii(text: str) -> None:
    tok = get_glide_tokenizer()
    assert tok.decode(tok.encode(text)) == text.lower()


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40))
def test_glide_round_trip_unicode(text: str) -> None:
    tok = get_glide_tokenizer()
    assert tok.decode(tok.encode(text)) == text.lower()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1), max_size=10))
def test_clip_round_trip_lowercase_words(words: list[str]) -> None:
    tok = get_clip_tokenizer()
    assert tok.decode(tok.encode(" ".join(words))) == "".join(w + " " for w in words)
