"""Smoke test of the benchmark's code path (bench.perf) with a tiny stand-in model.

The benchmark itself (full-size models) is a command that prints numbers, not a test."""

from __future__ import annotations

import json

import torch

from bench import perf
from glide.text2im import build_model


def test_perf_runs_and_reports(tmp_path, capsys):
    out = tmp_path / "perf.json"
    argv = ["--tiny", "--repeats", "1", "--dtypes", "float32", "--batches", "2,4", "--json",
            str(out)]  # fmt: skip
    assert perf.main(argv) == 0
    table = capsys.readouterr().out
    assert "base CFG batch 4" in table and "upsample batch 1" in table and "matmul peak" in table
    data = json.loads(out.read_text())
    rows = {r["workload"]: r for r in data["results"]}
    assert set(rows) == {"base CFG batch 2", "base CFG batch 4", "upsample batch 1"}
    b2, b4 = rows["base CFG batch 2"], rows["base CFG batch 4"]
    assert b2["gflop"] > 0 and b2["median_s"] > 0 and "convolution" in b2["flops_by_op"]
    assert abs(b4["gflop"] / b2["gflop"] - 2) < 0.05  # linear in batch
    assert b2["reference_s"] is None  # the reference timings are for the full-size models


def test_flop_count_of_a_step_matches_the_forward():
    """The step's FLOPs are the guided forward's: 2 rows of the network (no text encoder)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(perf._tiny("base"))
    step = perf.make_step(model, 2, "cpu")
    total, _ = perf.count_flops(step)
    x = torch.zeros(2, 3, 16, 16)
    enc = model.encode_text(*_tokens(model, 2))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, torch.tensor([5, 5]), text=enc)
    assert total == counter.get_total_flops()


def _tokens(model, n):
    from glide.tokenizer import get_glide_tokenizer

    return get_glide_tokenizer().encode_batch(["a"] * n, model.config.text_ctx)


def test_bad_options(capsys):
    assert perf.main(["--batches", "3"]) == 2
    assert "even integers" in capsys.readouterr().err
    assert perf.main(["--dtypes", "float64"]) == 2
    assert perf.main(["--models", "tiny"]) == 2
