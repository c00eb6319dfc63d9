"""Smoke test of the benchmark's code path (bench.perf) with a tiny stand-in model.

The benchmark itself (full-size models) is a command that prints numbers, not a test."""

from __future__ import annotations

import json

import pytest
import torch

from bench.perf import cli as perf
from glide.fast import cpu_has_bf16
from glide.text2im import build_model


@pytest.fixture(autouse=True, scope="module")
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)  # perf.main sets the thread count


def test_perf_runs_and_reports(tmp_path, capsys):
    out = tmp_path / "perf.json"
    argv = ["--tiny", "--threads", "1", "--repeats", "2", "--warmup", "0", "--models",
            "base,upsample", "--batches", "2,4", "--variants", "fp32-ref,fp32,bf16,fp32-sdpa,fast",
            "--no-memory", "--json", str(out)]  # fmt: skip
    assert perf.main(argv) == 0
    table = capsys.readouterr().out
    for text in ("base CFG batch 4", "upsample batch 1", "matmul peak", "speedup vs fp32-ref"):
        assert text in table
    data = json.loads(out.read_text())
    rows = {(r["workload"], r["variant"]): r for r in data["results"]}
    assert len(rows) == 3 * 5
    b2, b4 = rows[("base CFG batch 2", "fp32")], rows[("base CFG batch 4", "fp32")]
    assert b2["gflop"] > 0 and b2["median_s"] > 0 and "convolution" in b2["flops_by_op"]
    assert len(b2["seconds"]) == 2
    assert abs(b4["gflop"] / b2["gflop"] - 2) < 0.05  # linear in batch
    assert b2["reference_s"] is None  # the reference timings are for the full-size models
    ref = rows[("base CFG batch 2", "fp32-ref")]
    assert ref["speedup"] == 1.0 and ref["settings"]["text"] == "every step"
    assert ref["gflop"] > b2["gflop"]  # the text transformer runs inside the step
    fast = rows[("base CFG batch 2", "fast")]
    assert fast["settings"]["text"] == "once" and fast["gflop"] == pytest.approx(b2["gflop"])
    if cpu_has_bf16():
        assert fast["settings"]["dtype"] == "bfloat16"
    assert rows[("base CFG batch 2", "bf16")]["settings"]["dtype"] == "bfloat16"
    sdpa = rows[("base CFG batch 2", "fp32-sdpa")]
    assert sdpa["settings"]["attention"] == "sdpa" and sdpa["gflop"] == b2["gflop"]


def test_memory_probe_in_a_fresh_process(capsys):
    argv = ["--tiny", "--threads", "1", "--repeats", "1", "--warmup", "0", "--variants", "fp32"]
    assert perf.main(argv) == 0
    table = capsys.readouterr().out
    assert "peak MiB: process VmHWM" in table
    from bench.perf.memory import probe_memory_cpu

    result = probe_memory_cpu(perf._tiny("base"), perf.make_variant("fp32", "cpu"), 2, 1)
    assert result["peak_mib"] >= result["runtime_mib"] > 0
    assert 0 < result["weights_mib"] < 5


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
    # the reference-style step also runs the text transformer on both rows, every step
    ref_total, _ = perf.count_flops(perf.make_step(model, 2, "cpu", text_every_step=True))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.encode_text(*_tokens(model, 2))
    assert ref_total == total + counter.get_total_flops()


def _tokens(model, n):
    from glide.tokenizer import get_glide_tokenizer

    return get_glide_tokenizer().encode_batch(["a"] * n, model.config.text_ctx)


def test_bad_options(capsys):
    assert perf.main(["--batches", "3"]) == 2
    assert "even integers" in capsys.readouterr().err
    assert perf.main(["--variants", "fp64"]) == 2
    assert "choose from fp32-ref" in capsys.readouterr().err
    assert perf.main(["--variants", "fast,fast"]) == 2
    assert perf.main(["--models", "tiny"]) == 2
    assert perf.main(["--threads", "-1"]) == 2


def test_upsampler_alone_takes_odd_batches(capsys):
    """The upsampler runs unguided: ``--models upsample --batches 1`` is accepted (issue 24),
    while the base model still needs CFG pairs."""
    argv = ["--tiny", "--threads", "1", "--repeats", "1", "--warmup", "0", "--models",
            "upsample", "--batches", "1,3", "--variants", "fp32", "--no-memory"]  # fmt: skip
    assert perf.main(argv) == 0
    out = capsys.readouterr().out
    assert "upsample batch 1" in out and "upsample batch 3" in out
    assert perf.main(["--models", "base", "--batches", "1"]) == 2
    assert "CFG pairs" in capsys.readouterr().err
    assert perf.main(["--models", "upsample", "--batches", "0"]) == 2


def test_guidance_interval_timing_runs_and_prints_the_paired_ratio(capsys):
    from bench.perf import guidance_interval

    assert guidance_interval.main(["--steps", "4", "--batch", "2", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "round 0: full" in out and "median paired ratio" in out
    assert guidance_interval.main(["--interval", "3"]) == 2
    assert "--interval: '3' is not LO,HI" in capsys.readouterr().err


def test_upsampler_timing_runs_and_prints_the_paired_ratio(capsys):
    from bench.perf import upsampler

    argv = ["--steps", "3", "--baseline", "ddim:4", "--candidate", "ddim:quad2", "--batch", "1",
            "--rounds", "1"]  # fmt: skip
    assert upsampler.main(argv) == 0
    out = capsys.readouterr().out
    assert "round 0: ddim:4" in out and "median paired ratio" in out
    assert "ddim:4 (4 evaluations) vs ddim:quad2 (2; 2.00x fewer)" in out
    assert upsampler.main(["--candidate", "ddim:quad1"]) == 2
    assert "--candidate: timestep_respacing='quad1'" in capsys.readouterr().err
    assert upsampler.main(["--baseline", "euler:10"]) == 2
    assert "--baseline: 'euler:10' is not SAMPLER:STEPS" in capsys.readouterr().err
