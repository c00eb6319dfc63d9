"""Console scripts: every [project.scripts] entry is installed, runs ``--help`` (listing its
defaults) exactly like ``python -m <module> --help``, which keeps working."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
# what `python -m` runs for each entry point (a package's __main__ where the CLI lives in a
# submodule)
MODULE = {"human_eval.ratings.cli": "human_eval.ratings"}
# commands with subcommands: the defaults are listed by a subcommand's --help
SUBCOMMAND = {"glide-bench-study": ["create"]}
USER_FACING = {"sweep", "report", "perf", "sample", "inpaint", "study", "serve", "ratings"}


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="100")
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)


def _normalise(help_text: str) -> str:
    """--help text without the program name (``glide-bench-x`` vs ``python -m x``)."""
    return re.sub(r"\s+", " ", re.sub(r"usage: \S+( -m \S+)?", "usage: PROG", help_text))


def test_every_user_facing_command_has_a_console_script():
    assert {name.removeprefix("glide-bench-") for name in SCRIPTS} >= USER_FACING
    installed = {
        ep.name: ep.value
        for ep in metadata.entry_points(group="console_scripts")
        if ep.dist is not None and ep.dist.name == "glide-bench"
    }
    assert installed == SCRIPTS, "installed entry points are stale: run make install"


def test_console_scripts_and_python_m_print_the_same_help_with_defaults():
    bindir = Path(sys.executable).parent
    jobs = []
    for script, target in sorted(SCRIPTS.items()):
        exe = bindir / script
        if not exe.is_file():
            pytest.fail(f"{exe} is not installed: run make install")
        module = target.split(":")[0]
        module = MODULE.get(module, module)
        args = SUBCOMMAND.get(script, []) + ["--help"]
        jobs.append((script, [str(exe), *args], [sys.executable, "-m", module, *args]))
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = {
            (script, kind): pool.submit(_run, argv)
            for script, by_script, by_module in jobs
            for kind, argv in (("script", by_script), ("module", by_module))
        }
    for script, _, _ in jobs:
        by_script = results[(script, "script")].result()
        by_module = results[(script, "module")].result()
        for run in (by_script, by_module):
            assert run.returncode == 0, f"{run.args}: {run.stderr[-2000:]}"
            assert run.stdout.startswith("usage:"), run.stdout[:200]
            assert "default" in run.stdout, f"{script} --help lists no defaults"
        assert _normalise(by_script.stdout) == _normalise(by_module.stdout), script
