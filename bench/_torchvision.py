"""Make ``import torchvision`` work beside a CPU-only torch build.

torch-fidelity and open_clip import torchvision at module import time. The torchvision wheels on
PyPI are built against CUDA torch; beside the CPU torch 2.13.0 build their C extension cannot
load, which torchvision tolerates, except that ``torchvision/_meta_registrations.py`` registers
fake kernels for the ``torchvision::nms`` and ``torchvision::qnms`` operators unconditionally and
then fails with "operator torchvision::nms does not exist".

:func:`ensure_torchvision` declares the schemas of those two operators (without any kernel) when
torchvision's extension is not loadable, so that torchvision's pure-Python parts (transforms,
models, the modules torch-fidelity and open_clip use) import normally. Calling the operators
still fails, loudly, as it should. With a CUDA torch build the extension loads and this does
nothing. Every bench module that imports torch-fidelity or open_clip calls it first.
"""

from __future__ import annotations

import importlib.util
import sys

_LIB = None
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)


def _extension_loadable() -> bool:
    import glob
    import os

    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    for location in spec.submodule_search_locations:
        for path in glob.glob(os.path.join(location, "_C*.so")):
            try:
                torch.ops.load_library(path)
                return True
            except (OSError, RuntimeError):
                return False
    return False


def ensure_torchvision() -> None:
    """Import torchvision, declaring its missing operator schemas first if needed."""
    global _LIB
    if "torchvision" in sys.modules:
        return
    if importlib.util.find_spec("torchvision") is None:
        raise ImportError(
            "torchvision is not installed; install the bench extra: "
            "pip install torchvision==0.28.0 'glide-bench[bench]' (after torch==2.13.0)"
        )
    import torch

    if _LIB is None and not _extension_loadable():
        lib = torch.library.Library("torchvision", "FRAGMENT")
        for schema in _SCHEMAS:
            if not _op_exists(schema.split("(", 1)[0]):
                lib.define(schema)
        _LIB = lib
    import torchvision  # noqa: F401


def _op_exists(name: str) -> bool:
    import torch

    try:
        getattr(torch.ops.torchvision, name).default  # noqa: B018
        return True
    except (AttributeError, RuntimeError):
        return False
