"""Geometry and antialiased rendering of synthetic scenes.

A :class:`Layout` places a scene's objects in normalised coordinates (the unit square, y down),
with small random jitter of position, size and colour; :func:`render` draws it at any resolution
with PIL at 4x and downsamples with a box filter, so the 64x64 and 256x256 renderings of one
layout show the same picture.

Sizes are object "radii" (half the bounding extent) as a fraction of the image side: small
0.11, large 0.19 (each jittered by up to 8%). Single objects sit near a named anchor (left =
x 0.22, right = x 0.78, top = y 0.22, bottom = y 0.78, center), jittered by up to 0.04.
Relation pairs are stacked (above/below) or side by side (left of/right of) with a clear gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from glide.data.scene import BACKGROUNDS, COLOURS, Scene
from glide.errors import GlideError

RADIUS = {"small": 0.11, "large": 0.19}
ANCHORS = {
    "left": (0.22, 0.5),
    "right": (0.78, 0.5),
    "top": (0.5, 0.22),
    "bottom": (0.5, 0.78),
    "center": (0.5, 0.5),
}
MARGIN = 0.02
SUPERSAMPLE = 4


@dataclass(frozen=True)
class Placed:
    """One drawn object: shape, RGB colour, centre (cx, cy) and radius r in unit coordinates."""

    shape: str
    rgb: tuple[int, int, int]
    cx: float
    cy: float
    r: float

    def to_dict(self) -> dict:
        return {
            "shape": self.shape,
            "rgb": list(self.rgb),
            "cx": round(self.cx, 4),
            "cy": round(self.cy, 4),
            "r": round(self.r, 4),
        }


@dataclass(frozen=True)
class Layout:
    background_rgb: tuple[int, int, int]
    objects: tuple[Placed, ...]


def _jitter_rgb(rng: np.random.Generator, rgb: tuple[int, int, int], amount: int):
    values = np.asarray(rgb) + rng.integers(-amount, amount + 1, size=3)
    return tuple(int(v) for v in np.clip(values, 0, 255))


def _clamp(v: float, r: float) -> float:
    return float(min(max(v, r + MARGIN), 1.0 - r - MARGIN))


COUNT_GAP = 0.05  # clear space between copies in count scenes (about 3 px at 64x64)
# how far each shape reaches from its centre, in radii (square corners, triangle vertices)
REACH = {"circle": 1.0, "square": 1.21, "triangle": 1.15, "star": 1.0, "cross": 1.0}


def _apart(p, q, shape: str, r1: float, r2: float) -> bool:
    """Do two copies of ``shape`` at ``p`` and ``q`` keep at least COUNT_GAP between them?"""
    if shape == "square":  # axis-aligned: separated along x or y
        return max(abs(p[0] - q[0]), abs(p[1] - q[1])) >= 0.85 * (r1 + r2) + COUNT_GAP
    return math.dist(p, q) >= REACH[shape] * (r1 + r2) + COUNT_GAP


def _count_centres(
    rng: np.random.Generator, shape: str, radii: list[float]
) -> list[tuple[float, float]]:
    """Well-separated random centres (rejection sampling; a spread-out template if it fails)."""
    for _ in range(500):
        pts: list[tuple[float, float]] = []
        for r in radii:
            lo, hi = r + MARGIN, 1.0 - r - MARGIN
            p = (float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi)))
            if all(_apart(p, q, shape, r, rq) for q, rq in zip(pts, radii, strict=False)):
                pts.append(p)
            else:
                break
        if len(pts) == len(radii):
            return pts
    # corners of the free area: top-left, bottom-right (two) or top-left, top-right, bottom
    template = [(0.0, 0.0), (1.0, 1.0)] if len(radii) < 3 else [(0.0, 0.0), (1.0, 0.0), (0.5, 1.0)]
    return [(_clamp(x, r), _clamp(y, r)) for (x, y), r in zip(template, radii, strict=False)]


def sample_layout(scene: Scene, rng: np.random.Generator) -> Layout:
    """Place ``scene``'s objects (all randomness from ``rng``)."""
    bg = _jitter_rgb(rng, BACKGROUNDS[scene.background], 8)
    objs = [scene.objects[0]] * scene.count if scene.kind == "count" else list(scene.objects)
    radii = [RADIUS[o.size] * float(rng.uniform(0.92, 1.08)) for o in objs]
    rgbs = [_jitter_rgb(rng, COLOURS[o.colour], 12) for o in objs]
    if scene.kind == "single":
        ax, ay = ANCHORS[scene.position]
        r = radii[0]
        centres = [
            (_clamp(ax + rng.uniform(-0.04, 0.04), r), _clamp(ay + rng.uniform(-0.04, 0.04), r))
        ]
    elif scene.kind == "count":
        centres = _count_centres(rng, scene.objects[0].shape, radii)
    else:
        near = [float(rng.uniform(0.2, 0.27)), float(rng.uniform(0.73, 0.8))]
        across = [float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.4, 0.6))]
        # objects[0] is first along the axis for "above" / "left of", second otherwise
        if scene.relation in ("below", "right of"):
            near.reverse()
        vertical = scene.relation in ("above", "below")
        centres = [
            (_clamp(c, r), _clamp(n, r)) if vertical else (_clamp(n, r), _clamp(c, r))
            for n, c, r in zip(near, across, radii, strict=True)
        ]
    placed = tuple(
        Placed(o.shape, rgb, cx, cy, r)
        for o, rgb, (cx, cy), r in zip(objs, rgbs, centres, radii, strict=True)
    )
    return Layout(bg, placed)


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        h = 0.85 * r
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":  # equilateral, pointing up, centred on its bounding box
        cy = cy + 0.25 * r
        return [
            (cx + r * math.cos(a), cy + r * math.sin(a))
            for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)
        ]
    if shape == "star":  # five points, inner radius 0.45 r
        return [
            (cx + rr * math.cos(a), cy + rr * math.sin(a))
            for k in range(10)
            for rr, a in [((r if k % 2 == 0 else 0.45 * r), -math.pi / 2 + k * math.pi / 5)]
        ]
    if shape == "cross":  # a plus sign with arms of half-width 0.33 r
        w = 0.33 * r
        return [
            (cx - w, cy - r),
            (cx + w, cy - r),
            (cx + w, cy - w),
            (cx + r, cy - w),
            (cx + r, cy + w),
            (cx + w, cy + w),
            (cx + w, cy + r),
            (cx - w, cy + r),
            (cx - w, cy + w),
            (cx - r, cy + w),
            (cx - r, cy - w),
            (cx - w, cy - w),
        ]
    raise AssertionError(f"unknown shape {shape!r}")


def render(layout: Layout, size: int) -> np.ndarray:
    """Draw ``layout`` as a uint8 ``[size, size, 3]`` RGB array (4x supersampled)."""
    if not isinstance(size, int) or size < 8:
        raise GlideError(f"size: {size!r} is not a usable image side; give an int >= 8")
    big = size * SUPERSAMPLE
    image = Image.new("RGB", (big, big), layout.background_rgb)
    draw = ImageDraw.Draw(image)
    for obj in layout.objects:
        cx, cy, r = obj.cx * big, obj.cy * big, obj.r * big
        if obj.shape == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=obj.rgb)
        else:
            draw.polygon(_polygon(obj.shape, cx, cy, r), fill=obj.rgb)
    small = image.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8).copy()
