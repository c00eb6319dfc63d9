"""Image generators behind one small interface, in a registry that refuses duplicates
(:mod:`bench.generators.registry`: the interface, :class:`GeneratorOptions`, the registry).

- ``glide`` (:mod:`bench.generators.glide`): the GLIDE pipeline, the real thing.
- ``toy`` (:mod:`bench.generators.toy`): a tiny fixed random-weight network for tests and smoke
  runs of the harness. Its images mean nothing.
- ``diffusers`` (:mod:`bench.generators.diffusers`): any diffusers text-to-image pipeline
  (``--model``), classifier-free guidance through its ``guidance_scale``; diffusers and
  transformers (the ``diffusers`` extra) are imported only when it is built.
- ``folder`` (:mod:`bench.generators.folder`): images another program made (``--images``), in a
  documented, checked layout.

Importing this package registers the four.
"""

# ruff: noqa: I001 (the built-ins register in the order --generator lists them)
from __future__ import annotations

# registration order = the order --generator lists them in
from bench.generators import glide, toy
from bench.generators import diffusers, folder
from bench.generators.registry import (
    GENERATORS,
    Factory,
    GenerateFn,
    SAMPLER_FREE_GENERATORS,
    GeneratorOptions,
    build_generator,
    check_generator_name,
    register_generator,
    sampling_text,
)

__all__ = [
    "GENERATORS",
    "Factory",
    "GenerateFn",
    "GeneratorOptions",
    "SAMPLER_FREE_GENERATORS",
    "build_generator",
    "check_generator_name",
    "diffusers",
    "folder",
    "glide",
    "register_generator",
    "sampling_text",
    "toy",
]
