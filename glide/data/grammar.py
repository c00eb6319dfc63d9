"""The caption grammar of the synthetic dataset: paraphrased captions and their exact parser.

Every caption states every attribute of its :class:`~glide.data.scene.Scene` (kind, background,
each object's size, colour and shape, and the position, count or relation), in one of several
templates with synonyms ("big"/"large", "over"/"above", "a pair of"/"two", ...). Captions are
lower case without a final period; :func:`parse_caption` also accepts other capitalisation,
extra spaces, "grey" and a final period. Anything outside the grammar raises ``GlideError``.
"""

from __future__ import annotations

import re

import numpy as np

from glide.data.scene import BACKGROUNDS, COLOURS, PLURALS, SHAPES, Obj, Scene
from glide.errors import GlideError

SIZE_WORDS = {"small": ("small", "little"), "large": ("large", "big")}
POSITION_PHRASES = {
    "left": ("on the left", "on the left side", "at the left"),
    "right": ("on the right", "on the right side", "at the right"),
    "top": ("at the top", "near the top"),
    "bottom": ("at the bottom", "near the bottom"),
    "center": ("in the center", "in the middle"),
}
RELATION_PHRASES = {
    "above": ("above", "over"),
    "below": ("below", "under"),
    "left of": ("to the left of", "left of"),
    "right of": ("to the right of", "right of"),
}
COUNT_PHRASES = {2: ("two", "a pair of"), 3: ("three",)}

TEMPLATES = {
    "single": (
        "{A} {pos}, {bg} background",
        "{A} {pos} on a {bg} background",
        "{A} {pos} against a {bg} background",
        "a {bg} background with {A} {pos}",
        "a picture of {A} {pos} on a {bg} background",
    ),
    "count": (
        "{N} on a {bg} background",
        "{N} against a {bg} background",
        "{N}, {bg} background",
        "a {bg} background with {N}",
        "a picture of {N} on a {bg} background",
    ),
    "relation": (
        "{A} {rel} {B}, {bg} background",
        "{A} {rel} {B} on a {bg} background",
        "a {bg} background with {A} {rel} {B}",
        "a picture of {A} {rel} {B} on a {bg} background",
    ),
}

EXAMPLES = (
    "a small red circle on the left, white background",
    "three big blue stars on a gray background",
    "a little green triangle above a large purple square on a black background",
)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[rng.integers(len(options))]


def _object_phrase(rng: np.random.Generator, obj: Obj) -> str:
    return f"a {_pick(rng, SIZE_WORDS[obj.size])} {obj.colour} {obj.shape}"


def make_caption(scene: Scene, rng: np.random.Generator) -> str:
    """A random paraphrase (template and synonyms drawn from ``rng``) stating all of ``scene``."""
    template = _pick(rng, TEMPLATES[scene.kind])
    slots = {"bg": scene.background}
    if scene.kind == "count":
        obj = scene.objects[0]
        slots["N"] = (
            f"{_pick(rng, COUNT_PHRASES[scene.count])} "
            f"{_pick(rng, SIZE_WORDS[obj.size])} {obj.colour} {PLURALS[obj.shape]}"
        )
    else:
        slots["A"] = _object_phrase(rng, scene.objects[0])
    if scene.kind == "single":
        slots["pos"] = _pick(rng, POSITION_PHRASES[scene.position])
    if scene.kind == "relation":
        slots["rel"] = _pick(rng, RELATION_PHRASES[scene.relation])
        slots["B"] = _object_phrase(rng, scene.objects[1])
    return template.format(**slots)


# ---- parsing -------------------------------------------------------------------------------


def _alt(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _lookup(table: dict, phrase: str):
    for key, phrases in table.items():
        if phrase in phrases:
            return key
    raise AssertionError(f"phrase {phrase!r} not in its table")  # the regex only admits these


_SIZE = _alt(w for ws in SIZE_WORDS.values() for w in ws)
_COLOUR = _alt(COLOURS)
_SLOT_PATTERNS = {
    "A": rf"a (?P<A_size>{_SIZE}) (?P<A_colour>{_COLOUR}) (?P<A_shape>{_alt(SHAPES)})",
    "B": rf"a (?P<B_size>{_SIZE}) (?P<B_colour>{_COLOUR}) (?P<B_shape>{_alt(SHAPES)})",
    "N": (
        rf"(?P<N_count>{_alt(p for ps in COUNT_PHRASES.values() for p in ps)}) "
        rf"(?P<N_size>{_SIZE}) (?P<N_colour>{_COLOUR}) (?P<N_shape>{_alt(PLURALS.values())})"
    ),
    "pos": rf"(?P<pos>{_alt(p for ps in POSITION_PHRASES.values() for p in ps)})",
    "rel": rf"(?P<rel>{_alt(p for ps in RELATION_PHRASES.values() for p in ps)})",
    "bg": rf"(?P<bg>{_alt(BACKGROUNDS)})",
}


def _compile(template: str) -> re.Pattern:
    parts = re.split(r"(\{\w+\})", template)
    pattern = "".join(_SLOT_PATTERNS[p[1:-1]] if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(pattern)


_PATTERNS = [(kind, _compile(t)) for kind, ts in TEMPLATES.items() for t in ts]


def normalize_caption(caption: str) -> str:
    text = " ".join(caption.lower().split())
    text = text.removesuffix(".").rstrip()
    text = re.sub(r"\s+,", ",", text)
    return re.sub(r"\bgrey\b", "gray", text)


def _obj(match: re.Match, slot: str) -> Obj:
    size = _lookup(SIZE_WORDS, match[f"{slot}_size"])
    shape = match[f"{slot}_shape"]
    if slot == "N":
        shape = _lookup({s: (p,) for s, p in PLURALS.items()}, shape)
    return Obj(shape=shape, colour=match[f"{slot}_colour"], size=size)


def parse_caption(caption: str) -> Scene:
    """Recover the :class:`Scene` a caption of the grammar states.

    Raises ``GlideError`` for any text outside the grammar (with examples of valid captions).
    """
    if not isinstance(caption, str):
        raise GlideError(f"caption: expected a string, got {type(caption).__name__}")
    text = normalize_caption(caption)
    scenes = []
    for kind, pattern in _PATTERNS:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        bg = match["bg"]
        if kind == "single":
            scene = Scene(
                kind, bg, (_obj(match, "A"),), position=_lookup(POSITION_PHRASES, match["pos"])
            )
        elif kind == "count":
            scene = Scene(
                kind, bg, (_obj(match, "N"),), count=_lookup(COUNT_PHRASES, match["N_count"])
            )
        else:
            a, b = _obj(match, "A"), _obj(match, "B")
            if (a.shape, a.colour) == (b.shape, b.colour):
                raise GlideError(
                    f"caption {caption!r}: a relation between two {a.colour} {a.shape}s is "
                    "ambiguous and not in the grammar; the two objects must differ"
                )
            scene = Scene(
                kind, bg, (a, b), count=2, relation=_lookup(RELATION_PHRASES, match["rel"])
            )
        scenes.append(scene)
    if not scenes:
        raise GlideError(
            f"caption {caption!r} is not in the synthetic caption grammar; captions look like "
            + "; ".join(repr(e) for e in EXAMPLES)
            + " (see glide.data.grammar.TEMPLATES)"
        )
    assert all(s == scenes[0] for s in scenes), f"ambiguous grammar for {text!r}: {scenes}"
    return scenes[0]
