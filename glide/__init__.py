"""GLIDE: the text-conditional diffusion model stack (Nichol et al., 2021), written here.

The public API is documented in README.md. Submodules are imported lazily (PEP 562) so that
``import glide`` stays cheap for tools that only need, say, the tokenizer.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "GlideError": "glide.errors",
    "CheckpointError": "glide.errors",
    "UNetConfig": "glide.config",
    "CLIPConfig": "glide.config",
    "build_model": "glide.text2im",
    "build_clip": "glide.clip",
    "load_checkpoint": "glide.checkpoints",
    "load_clip": "glide.checkpoints",
    "get_glide_tokenizer": "glide.tokenizer",
    "get_clip_tokenizer": "glide.tokenizer",
    "create_diffusion": "glide.diffusion",
    "Text2ImPipeline": "glide.pipeline",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'glide' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
