"""glide.log: one logging configuration. Rank 0 shows info and progress bars; other ranks
warnings and errors with a [rank N] prefix; --quiet / --verbose; restored after a command."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import pytest

from bench.progress import progress_enabled
from bench.sweep import main
from glide.log import NORMAL, QUIET, VERBOSE, command_logging, show_progress

log = logging.getLogger("bench.test_logging")


def _emit_all() -> None:
    log.debug("a debug line")
    log.info("an info line")
    log.warning("a warning line")
    log.error("an error line")


@pytest.mark.parametrize(
    "verbosity, rank, expected, progress",
    [
        (NORMAL, 0, ["an info line", "warning: a warning line", "error: an error line"], True),
        (
            VERBOSE,
            0,
            ["a debug line", "an info line", "warning: a warning line", "error: an error line"],
            True,
        ),  # fmt: skip
        (QUIET, 0, ["warning: a warning line", "error: an error line"], False),
        (NORMAL, 1, ["[rank 1] warning: a warning line", "[rank 1] error: an error line"], False),
        (VERBOSE, 3, ["[rank 3] warning: a warning line", "[rank 3] error: an error line"], False),
    ],
)
def test_levels_prefixes_and_progress(capsys, verbosity, rank, expected, progress):
    with command_logging(verbosity, rank=rank):
        _emit_all()
        assert show_progress() is progress
        assert progress_enabled() is progress
    assert capsys.readouterr().err.splitlines() == expected


def test_rank_comes_from_torchrun_environment(capsys, monkeypatch):
    monkeypatch.setenv("RANK", "2")
    assert show_progress() is False and progress_enabled() is False  # even unconfigured
    with command_logging(NORMAL):
        _emit_all()
    assert capsys.readouterr().err.splitlines() == [
        "[rank 2] warning: a warning line",
        "[rank 2] error: an error line",
    ]
    monkeypatch.setenv("RANK", "0")
    assert show_progress() is True


def test_python_warnings_go_through_the_same_handler(capsys):
    with command_logging(NORMAL, rank=1):
        warnings.warn("deprecated thing", UserWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err.startswith("[rank 1] warning: ") and "deprecated thing" in err


def test_command_logging_restores_the_previous_setup():
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    with command_logging(VERBOSE, rank=0):
        assert root.level == logging.DEBUG
    assert (list(root.handlers), root.level) == before
    assert show_progress() is True


def _toy_args(coco, out: Path, cache: Path) -> list[str]:
    captions, images = coco
    return [
        "--generator", "toy", "--coco-captions", str(captions), "--coco-images", str(images),
        "--num-samples", "4", "--steps", "2", "--batch-size", "4", "--scales", "1",
        "--metrics", "none", "--out", str(out), "--cache-dir", str(cache),
    ]  # fmt: skip


def test_sweep_quiet_normal_verbose(coco, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(_toy_args(coco, out, tmp_path / "cache")) == 0
    captured = capsys.readouterr()
    assert "sweep folder:" in captured.out  # the result, on stdout
    assert "1 runs (cfg" in captured.err  # info message
    assert "img/s" in captured.err or "img]" in captured.err  # a progress bar was drawn

    assert main(_toy_args(coco, out, tmp_path / "cache") + ["--quiet"]) == 0
    captured = capsys.readouterr()
    assert "sweep folder:" in captured.out
    assert captured.err == ""  # no info, no bar

    assert main(["--quiet", "--verbose"]) == 2  # mutually exclusive
    assert "not allowed with" in capsys.readouterr().err


def test_sweep_records_the_versions_the_numbers_depend_on(coco, tmp_path):
    out = tmp_path / "sweep"
    assert main(_toy_args(coco, out, tmp_path / "cache") + ["--quiet"]) == 0
    versions = json.loads((out / "sweep.json").read_text())["versions"]
    for name in ("torch", "torchvision", "numpy", "scipy", "pillow", "torch-fidelity",
                 "open_clip_torch", "timm", "pycocotools", "pandas", "pyarrow", "matplotlib",
                 "glide-bench", "python", "torch CUDA runtime", "torchvision operators",
                 "environment"):  # fmt: skip
        assert versions.get(name), name
    assert versions["scipy"] != "not installed" and versions["torchvision"] != "not installed"
    assert versions["environment"].startswith("requirements.lock sha256:")


def test_sweep_error_is_logged_with_the_error_prefix(coco, tmp_path, capsys):
    assert main(_toy_args(coco, tmp_path / "o", tmp_path / "c") + ["--scales", "1,,2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --scales: empty item"), err
