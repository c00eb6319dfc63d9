"""Importing torchvision, open_clip and torch_fidelity: one helper, and a guard behind it.

torch-fidelity and open_clip import torchvision at module import time. Where torch and
torchvision are not a matched pair (the project's machines: the CPU build of torch 2.13.0 from
disk, torchvision 0.28.0 from PyPI built against CUDA torch) torchvision's C extension cannot
load. torchvision tolerates that, except that ``torchvision/_meta_registrations.py`` registers
fake kernels for the ``torchvision::nms`` and ``torchvision::qnms`` operators unconditionally
(``torch.library.register_fake``) and then fails with "operator torchvision::nms does not
exist"; its other registrations are guarded by ``torchvision.extension._has_ops()``.

The workaround declares the schemas of those operators (without any kernel) before torchvision
runs, so that torchvision's pure-Python parts (transforms, models, the modules torch-fidelity
and open_clip use) import normally. Calling the operators still fails, loudly, as it should.
Where the extension loads (a matched pair, e.g. the GPU ``TORCH_PINS`` in the Makefile) it does
nothing: :func:`workaround_active` is False and sweep.json says ``native``.

Use :func:`import_module` (``import_module("open_clip")``, ``import_module("torch_fidelity")``,
``import_module("torchvision")`` or any of their submodules), or call :func:`ensure_torchvision`
before a plain import. Importing this module also installs an import guard
(:class:`_ImportGuard` on ``sys.meta_path``): from then on a plain ``import torchvision``, direct
or from inside open_clip or torch-fidelity, runs the workaround first, so a forgotten call
cannot break an import. Every project module that imports one of the three imports this module
first (tests/test_install_torchvision.py checks both, and that the installed torchvision
registers no unguarded operator beyond :data:`SCHEMAS`).

A torchvision release that registers another operator unguarded is refused with an ImportError
naming the operator and this file, not a RuntimeError from deep inside torchvision.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

__all__ = [
    "GUARDED",
    "SCHEMAS",
    "ensure_torchvision",
    "import_module",
    "torchvision_ops_status",
    "workaround_active",
]

# The top-level packages whose import needs the workaround first.
GUARDED = ("torchvision", "open_clip", "torch_fidelity")
# Operator name -> schema, as torchvision's C++ declares them (torchvision/csrc/ops/nms.cpp and
# quantized/cpu/qnms_kernel.cpp): the operators _meta_registrations.py registers unguarded.
SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_UNGUARDED_FAKE = re.compile(r"""register_fake\(\s*["']torchvision::(\w+)["']""")

_LIB = None  # the torch.library fragment holding the declared schemas, once declared
_STATE: str | None = None  # "native" or "declared" once decided
_busy = False  # re-entrancy flag of the guard (the workaround itself looks torchvision up)


def _torchvision_dir() -> Path | None:
    spec = importlib.machinery.PathFinder.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _extension_loadable(location: Path) -> bool:
    """Whether torchvision's C extension loads beside this torch (it registers the operators)."""
    import torch

    for path in sorted(location.glob("_C*.so")) + sorted(location.glob("_C*.pyd")):
        try:
            torch.ops.load_library(str(path))
            return True
        except (OSError, RuntimeError):
            return False
    return False


def unguarded_fake_registrations(location: Path) -> set[str]:
    """Operators that ``_meta_registrations.py`` registers with ``register_fake`` (unguarded).

    A quick textual reading for the runtime check; the test reads the file's syntax tree.
    """
    path = location / "_meta_registrations.py"
    if not path.is_file():
        return set()
    return set(_UNGUARDED_FAKE.findall(path.read_text(encoding="utf-8")))


def _op_exists(name: str) -> bool:
    import torch

    try:
        getattr(torch.ops.torchvision, name).default  # noqa: B018
        return True
    except (AttributeError, RuntimeError):
        return False


def _prepare() -> None:
    """Declare the missing operator schemas if torchvision's extension cannot load; idempotent.

    Never imports torchvision itself (the import guard calls this while torchvision's own
    import is being looked up).
    """
    global _LIB, _STATE
    if _STATE is not None or "torchvision" in sys.modules:
        return
    location = _torchvision_dir()
    if location is None:
        return  # not installed: the import fails with ModuleNotFoundError as usual
    import torch

    if _extension_loadable(location):
        _STATE = "native"
        return
    missing = sorted(unguarded_fake_registrations(location) - set(SCHEMAS))
    if missing:
        raise ImportError(
            f"torchvision ({location}) registers fake kernels for {', '.join(missing)} "
            "unconditionally, and its C extension does not load beside this torch build "
            f"({torch.__version__}); bench/_torchvision.py declares only "
            f"{', '.join(sorted(SCHEMAS))}: add the schema of each operator to SCHEMAS there "
            "(from torchvision's csrc), or install a matched torch/torchvision pair "
            "(Makefile: TORCH_PINS)"
        )
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for name, schema in SCHEMAS.items():
        if not _op_exists(name):
            lib.define(schema)
    _LIB = lib
    _STATE = "declared"


def ensure_torchvision() -> None:
    """Import torchvision, declaring its missing operator schemas first if needed."""
    if "torchvision" in sys.modules:
        return
    if importlib.util.find_spec("torchvision") is None:
        raise ImportError(
            "torchvision is not installed; install the bench extra: "
            "pip install torchvision==0.28.0 'glide-bench[bench]' (after torch==2.13.0), "
            "or make install"
        )
    _prepare()
    import torchvision  # noqa: F401


def import_module(name: str) -> ModuleType:
    """``importlib.import_module(name)`` for torchvision, open_clip, torch_fidelity and their
    submodules, with the workaround applied first."""
    if name.split(".", 1)[0] not in GUARDED:
        raise ValueError(f"{name!r} is not one of {', '.join(GUARDED)} (or a submodule)")
    ensure_torchvision()
    return importlib.import_module(name)


def workaround_active() -> bool:
    """True once the schemas have been declared (torchvision's extension did not load)."""
    return _STATE == "declared"


def torchvision_ops_status() -> str:
    """How torchvision's operators are provided in this process, for sweep.json."""
    if _STATE == "declared":
        return (
            "schemas declared without kernels by bench/_torchvision.py (torchvision's C "
            "extension does not load beside this torch build)"
        )
    if _STATE == "native":
        return "native (torchvision's C extension loaded)"
    if "torchvision" in sys.modules:
        import torchvision.extension

        if torchvision.extension._has_ops():
            return "native (torchvision's C extension loaded)"
        return "no C extension (torchvision imported without the workaround)"
    return "torchvision not imported"


class _ImportGuard(importlib.abc.MetaPathFinder):
    """Runs :func:`_prepare` before torchvision is first imported, by anyone; finds nothing."""

    def find_spec(self, fullname, path, target=None):
        global _busy
        if fullname == "torchvision" and not _busy and _STATE is None:
            _busy = True
            try:
                _prepare()
            finally:
                _busy = False
        return None


def _install_guard() -> None:
    if not any(isinstance(finder, _ImportGuard) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ImportGuard())


_install_guard()
