"""bench/_torchvision.py: the workaround that lets the CUDA-built torchvision import beside the
CPU torch covers every operator the installed torchvision registers unguarded, cannot be
bypassed by a plain import, refuses an uncovered operator by name, and does nothing under a
matched torch/torchvision pair (the Makefile's GPU TORCH_PINS)."""

from __future__ import annotations

import ast
import importlib.machinery
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench._torchvision import GUARDED, SCHEMAS, unguarded_fake_registrations

REPO = Path(__file__).resolve().parents[1]


def _torchvision_dir() -> Path:
    spec = importlib.machinery.PathFinder.find_spec("torchvision")
    if spec is None:
        pytest.skip("torchvision is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _python(code: str, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (nothing imported yet), from the repository root."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ---------------------------------------------------------------------------------------------
# Reading torchvision's registrations (syntax tree, independent of the workaround's own regex)


def _is_has_ops_test(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Attribute) and n.attr == "_has_ops" for n in ast.walk(node)
    ) or any(isinstance(n, ast.Name) and n.id == "_has_ops" for n in ast.walk(node))


def _helper_is_guarded(tree: ast.Module, name: str) -> bool:
    """Whether the module-level helper ``name`` (e.g. ``register_meta``) registers only inside
    an ``if ..._has_ops():`` block: every call in it that registers (``.impl(``) is guarded."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            registering = [
                n
                for n in ast.walk(node)
                if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and n.func.attr in ("impl", "register_fake", "define", "impl_abstract")
            ]
            guarded = {
                id(n)
                for block in ast.walk(node)
                if isinstance(block, ast.If) and _is_has_ops_test(block.test)
                for stmt in block.body
                for n in ast.walk(stmt)
            }
            return bool(registering) and all(id(n) in guarded for n in registering)
    return False


def _op_names_in(call: ast.Call) -> set[str]:
    """Operator names a registration call names: ``"torchvision::nms"`` or a bare first
    string argument (``register_meta("roi_align")``)."""
    names = set()
    for i, arg in enumerate(call.args):
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            if arg.value.startswith("torchvision::"):
                names.add(arg.value.split("::", 1)[1].split(".")[0])
            elif i == 0 and re.fullmatch(r"_?[a-z][a-z0-9_]*", arg.value):
                names.add(arg.value)
    return names


def unguarded_operators(source: str) -> set[str]:
    """Operators a torchvision registration module registers at import time without checking
    that torchvision's C extension loaded.

    Module-level statements only (function bodies run later, if ever). A statement inside
    ``if ..._has_ops():`` is guarded; a decorator ``@helper("op")`` is guarded when ``helper``
    itself registers only under such an ``if`` (torchvision's ``register_meta``). Anything else
    that names an operator (``@torch.library.register_fake("torchvision::nms")``, a bare call,
    an unknown helper) counts as unguarded.
    """
    tree = ast.parse(source)
    found: set[str] = set()

    def visit(statements, guarded: bool) -> None:
        for stmt in statements:
            if isinstance(stmt, ast.If):
                visit(stmt.body, guarded or _is_has_ops_test(stmt.test))
                visit(stmt.orelse, guarded)
                continue
            if guarded:
                continue
            calls: list[ast.Call] = []
            if isinstance(stmt, ast.FunctionDef | ast.ClassDef):
                for deco in stmt.decorator_list:
                    if not isinstance(deco, ast.Call):
                        continue
                    helper = deco.func.id if isinstance(deco.func, ast.Name) else None
                    if helper is not None and _helper_is_guarded(tree, helper):
                        continue
                    calls.append(deco)
            elif isinstance(stmt, ast.Expr | ast.Assign):
                calls = [n for n in ast.walk(stmt) if isinstance(n, ast.Call)]
            for call in calls:
                found.update(_op_names_in(call))

    visit(tree.body, False)
    return found


def test_analysis_catches_a_new_unguarded_operator_and_a_lost_guard():
    guarded_helper = """
        def register_meta(op_name, overload_name="default"):
            def wrapper(fn):
                if torchvision.extension._has_ops():
                    get_meta_lib().impl(getattr(torch.ops.torchvision, op_name), fn)
                return fn
            return wrapper
    """
    ok = (
        guarded_helper
        + """
        @register_meta("roi_align")
        def meta_roi_align(x): ...
        @torch.library.register_fake("torchvision::nms")
        def meta_nms(x): ...
        if torchvision.extension._has_ops():
            torch.library.register_fake("torchvision::deform_conv2d")(lambda x: x)
    """
    )
    assert unguarded_operators(textwrap.dedent(ok)) == {"nms"}
    new_op = (
        ok
        + """
        @torch.library.register_fake("torchvision::roi_align")
        def meta_roi_align_fake(x): ...
        torch.library.register_fake("torchvision::ps_roi_pool")(meta_roi_align)
    """
    )
    assert unguarded_operators(textwrap.dedent(new_op)) == {"nms", "roi_align", "ps_roi_pool"}
    lost_guard = ok.replace("if torchvision.extension._has_ops():\n", "if True:\n", 1)
    assert unguarded_operators(textwrap.dedent(lost_guard)) == {"nms", "roi_align"}


def test_installed_torchvision_registers_nothing_unguarded_beyond_the_workaround():
    """Fails when a torchvision release registers another operator unguarded at import: add
    its schema to bench/_torchvision.py SCHEMAS (or pin the torchvision that works)."""
    location = _torchvision_dir()
    meta = location / "_meta_registrations.py"
    assert meta.is_file(), f"{meta} is gone: re-check how torchvision registers its operators"
    unguarded = unguarded_operators(meta.read_text(encoding="utf-8"))
    for other in ("_autograd_registrations.py",):
        if (location / other).is_file():
            unguarded |= unguarded_operators((location / other).read_text(encoding="utf-8"))
    uncovered = sorted(unguarded - set(SCHEMAS))
    assert not uncovered, (
        f"torchvision at {location} registers {uncovered} unguarded; bench/_torchvision.py "
        f"declares only {sorted(SCHEMAS)}"
    )
    assert unguarded, "no unguarded registration found: is the workaround still needed?"
    # the runtime check of bench/_torchvision.py reads the same operators
    assert unguarded_fake_registrations(location) == unguarded


def test_an_uncovered_operator_is_refused_by_name():
    result = _python(
        """
        import bench._torchvision as tv
        tv._extension_loadable = lambda location: False
        tv.unguarded_fake_registrations = lambda location: {"nms", "qnms", "roi_magic"}
        try:
            import open_clip
        except ImportError as exc:
            print("refused:", exc)
        else:
            print("imported")
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused:" in result.stdout, result.stdout
    assert "roi_magic" in result.stdout and "bench/_torchvision.py" in result.stdout


# ---------------------------------------------------------------------------------------------
# The installed pair, and a matched pair


def test_plain_imports_work_once_the_guard_is_installed():
    """After ``import bench._torchvision`` (which every importing module does first) plain
    imports of the three packages work, in any order, without calling ensure_torchvision."""
    result = _python(
        """
        import bench._torchvision as tv
        import torch_fidelity.metric_prc, open_clip, torchvision.transforms
        print("status:", tv.torchvision_ops_status())
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "status: " in result.stdout


def test_installed_pair_state_is_consistent():
    """Either torchvision's C extension loads (a matched pair: the workaround declares nothing
    and nms computes) or it does not (the workaround declares the schemas and calling an
    operator fails loudly). On the project's CPU machines it is the second."""
    result = _python(
        """
        import torch
        import bench._torchvision as tv
        from bench._torchvision import import_module
        tv_ops = import_module("torchvision.ops")
        boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float)
        scores = torch.tensor([0.9, 0.8, 0.7])
        try:
            keep = tv_ops.nms(boxes, scores, 0.5).tolist()
        except RuntimeError as exc:
            keep = "fails: " + str(exc).splitlines()[0]
        print("active:", tv.workaround_active(), "lib:", tv._LIB is not None, "keep:", keep)
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = result.stdout.strip().splitlines()[-1]
    if "active: False" in line:
        assert "lib: False" in line and "keep: [0, 2]" in line, line
    else:
        assert "active: True" in line and "lib: True" in line and "keep: fails" in line, line


def test_matched_pair_makes_the_workaround_a_no_op():
    """Simulates the GPU TORCH_PINS (a matched pair): the extension loads and defines
    torchvision's operators with kernels. The workaround must then declare nothing, and the
    operators are the extension's."""
    result = _python(
        """
        import torch
        import bench._torchvision as tv

        def extension_loads(location):  # what torchvision/_C.so does on a matched pair
            lib = torch.library.Library("torchvision", "DEF")
            for schema in tv.SCHEMAS.values():
                lib.define(schema)
            lib.impl("nms", lambda dets, scores, iou: torch.tensor([7]), "CPU")
            extension_loads.lib = lib
            return True

        tv._extension_loadable = extension_loads
        import torchvision, open_clip
        out = torch.ops.torchvision.nms(torch.zeros(1, 4), torch.zeros(1), 0.5).tolist()
        print(tv.workaround_active(), tv._LIB is None, tv.torchvision_ops_status(), out)
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == (
        "False True native (torchvision's C extension loaded) [7]"
    )


def test_gpu_torch_pins_are_documented_as_a_matched_pair():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    version = re.search(r"^TORCH_VERSION := (\S+)", makefile, re.M).group(1)
    vision = re.search(r"^TORCHVISION_VERSION := (\S+)", makefile, re.M).group(1)
    pins = re.findall(r'TORCH_PINS="torch==(\S+?)\+(\w+) torchvision==(\S+?)\+(\w+)"', makefile)
    assert pins, "the Makefile documents no matched TORCH_PINS pair"
    for torch_v, torch_label, vision_v, vision_label in pins:
        assert (torch_v, vision_v) == (version, vision)
        assert torch_label == vision_label  # one build of both, from one index


# ---------------------------------------------------------------------------------------------
# No import can bypass the guard


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(tree: ast.AST, module_level_only: bool) -> list[tuple[str, list[str]]]:
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [alias.name for alias in node.names]))
    return out


def test_every_import_of_torchvision_open_clip_torch_fidelity_is_behind_the_guard():
    """A file that imports one of the three (anywhere) must import bench._torchvision itself or
    through the modules it imports at module level (which run first), so the guard is in place
    before its import runs. This is the test a new top-level ``import open_clip`` fails."""
    files = {
        _module_name(p): p
        for top in ("bench", "glide", "reports", "human_eval", "tests")
        for p in (REPO / top).rglob("*.py")
    }
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in files.items()}

    def resolves(module: str, names: list[str]) -> list[str]:
        found = []
        for candidate in [module] + [f"{module}.{n}" for n in names]:
            parts = candidate.split(".")
            found += [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return [m for m in found if m in trees]

    closure_cache: dict[str, set[str]] = {}

    def closure(name: str) -> set[str]:
        if name in closure_cache:
            return closure_cache[name]
        closure_cache[name] = seen = {name}
        todo = [name]
        while todo:
            current = todo.pop()
            for module, names in _imports(trees[current], module_level_only=True):
                for dep in resolves(module, names):
                    if dep not in seen:
                        seen.add(dep)
                        todo.append(dep)
        return seen

    offenders = []
    for name, tree in trees.items():
        if name == "bench._torchvision":
            continue
        imported = _imports(tree, module_level_only=False)
        if not any(module.split(".")[0] in GUARDED for module, _ in imported):
            continue
        direct = any(module == "bench._torchvision" for module, _ in imported)
        if not direct and "bench._torchvision" not in closure(name):
            offenders.append(str(files[name].relative_to(REPO)))
    assert not offenders, (
        f"{offenders} import torchvision/open_clip/torch_fidelity without bench._torchvision "
        "being imported first: use bench._torchvision.import_module(...) there"
    )
