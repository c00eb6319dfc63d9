"""GLIDE: the text-conditional diffusion model stack (Nichol et al., 2021), written here.

The public API is documented in README.md; heavy submodules are imported lazily so that
``import glide`` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"
