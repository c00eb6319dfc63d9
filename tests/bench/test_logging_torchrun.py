"""Sweeps under torchrun: one progress bar and one set of messages (rank 0's), and a two-"node"
sweep joined by c10d rendezvous on loopback into one shared --out folder, equal to one process.

Each launcher below is what one machine of a multi-node sweep runs (README: Benchmark sweeps).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from bench.sweep import main

REPO = Path(__file__).resolve().parents[2]
SWEEP_ARGS = ["--method", "cfg", "--method", "clip", "--scales", "1,2", "--metrics", "none"]


def _args(coco, out: Path, cache: Path) -> list[str]:
    captions, images = coco
    return [
        "--generator", "toy", "--coco-captions", str(captions), "--coco-images", str(images),
        "--num-samples", "12", "--steps", "3", "--batch-size", "5", "--out", str(out),
        "--cache-dir", str(cache), *SWEEP_ARGS,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _images(out: Path) -> dict[str, dict[str, bytes]]:
    result = {}
    for spec_path in sorted((out / "runs").glob("*/spec.json")):
        label = json.loads(spec_path.read_text())["label"]
        images = sorted((spec_path.parent / "images").glob("*.png"))
        result[label] = {p.name: p.read_bytes() for p in images}
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_one_bar_and_one_report(stdout: str, stderr: str) -> None:
    # progress bars: generate_run labels them "<run> [rank r]" under torchrun; only rank 0 draws
    assert "[rank 0]" in stderr, stderr[-3000:]
    assert "[rank 1]" not in stderr, stderr[-3000:]
    for label in ("cfg@1", "cfg@2", "clip@1", "clip@2"):
        assert f"{label} [rank 0]" in stderr, (label, stderr[-3000:])
    # info messages: rank 0 only; the result summary: rank 0 only
    assert stderr.count("4 runs (") == 1, stderr[-3000:]
    assert stdout.count("sweep folder:") == 1, stdout


def test_torchrun_two_processes_show_one_progress_bar(coco, tmp_path):
    out = tmp_path / "two"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "bench.sweep",
            *_args(coco, out, tmp_path / "cache"),
        ],  # fmt: skip
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_one_bar_and_one_report(proc.stdout, proc.stderr)
    assert json.loads((out / "sweep.json").read_text())["world_size"] == 2


def test_two_nodes_c10d_rendezvous_on_loopback_share_one_out_folder(coco, tmp_path):
    """Two launchers ("nodes", one process each) meet through c10d rendezvous and write into
    one --out folder; the result equals a one-process sweep, byte for byte."""
    one = tmp_path / "one"
    assert main(_args(coco, one, tmp_path / "cache") + ["--no-progress"]) == 0
    shared = tmp_path / "shared"
    endpoint = f"127.0.0.1:{_free_port()}"
    launch = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
        "--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint, "--rdzv_id", "glide-bench-test",
        "-m", "bench.sweep", *_args(coco, shared, tmp_path / "cache"),
    ]  # fmt: skip
    nodes = [
        subprocess.Popen(
            launch, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = []
    try:
        for node in nodes:
            outputs.append(node.communicate(timeout=280))
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
    for node, (_, stderr) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, stderr[-3000:]
    stdout = "".join(o for o, _ in outputs)
    stderr = "".join(e for _, e in outputs)
    _check_one_bar_and_one_report(stdout, stderr)
    sweep = json.loads((shared / "sweep.json").read_text())
    assert sweep["world_size"] == 2
    assert _images(shared) == _images(one)
