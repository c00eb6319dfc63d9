"""The inference fast path (glide.fast, the low-precision CPU branches of glide.nn): a single
forward of the golden_small model (random weights) on the fast path agrees with float32 within a
stated bf16 tolerance; the fused attention kernel stays within the reference tolerances in
float32; the bf16 shortcuts compute what the upcast path computes."""

from __future__ import annotations

import json

import pytest
import torch

import glide
from glide.errors import GlideError
from glide.fast import FastPath, apply_fast_path, default_fast_path
from glide.nn import GroupNorm32, attention
from glide.unet import AttentionBlock

# Relative L2 error of one forward against float32, stated tolerances. bfloat16 keeps 8
# significant bits (unit roundoff 2^-9 = 2e-3 per rounding); through this model's ~40 layers
# the error measured here is 1.7e-2 (eps) and 1.9e-2 (v), max abs 7e-2 on outputs up to 2.9,
# the same with or without the bf16 shortcuts of glide.nn. float16 (11 bits): 2.1e-3 / 2.3e-3.
# Guided eps (scale 3, against the fixture's float64 value): 3.3e-2 (bf16), 4e-3 (fp16).
REL_TOL = {"bfloat16": 2.5e-2, "float16": 5e-3}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def golden(reference_dir):
    root = reference_dir / "golden_small"
    return {
        "options": json.loads((root / "config.json").read_text())["options"],
        "state_dict": torch.load(root / "state_dict.pt", weights_only=True),
        "forward": torch.load(root / "forward.pt", weights_only=True),
    }


def _model(golden, fast: FastPath | None = None) -> torch.nn.Module:
    model = glide.build_model(golden["options"])
    model.load_state_dict(golden["state_dict"])
    return apply_fast_path(model, fast) if fast is not None else model


def _forward(model, f) -> torch.Tensor:
    with torch.no_grad():
        enc = model.encode_text(f["tokens"], f["mask"])  # once, as the pipeline does
        return model(f["x_t"], f["timesteps"], text=enc)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


@pytest.mark.parametrize(
    "fast",
    [
        FastPath(),  # the CPU default: bf16, math attention, channels-last
        FastPath(attention="sdpa", channels_last=False),
        FastPath(dtype="float16", attention="sdpa"),
    ],
    ids=["bf16-math-nhwc", "bf16-sdpa-nchw", "fp16-sdpa-nhwc"],
)
def test_fast_forward_agrees_with_float32(golden, fast):
    f = golden["forward"]
    reference = _forward(_model(golden), f)
    out = _forward(_model(golden, fast), f)
    assert out.dtype == torch.float32 and out.shape == reference.shape  # cast back for sampling
    assert torch.isfinite(out).all()
    eps_err, v_err = _rel(out[:, :3], reference[:, :3]), _rel(out[:, 3:], reference[:, 3:])
    tol = REL_TOL[fast.dtype]
    assert eps_err < tol and v_err < tol, (eps_err, v_err)
    assert eps_err > 1e-6  # it really ran in reduced precision
    # guided eps of the fixture's layout (rows 0/1 cond, 2/3 uncond), scale 3: the error grows
    # with the scale (1 + 2s) but stays small against the guided output
    guided = out[2:, :3] + 3.0 * (out[:2, :3] - out[2:, :3])
    want = f["cfg_guided_eps_scale3_fp64"]
    assert _rel(guided, want) < 2 * tol


def test_sdpa_in_float32_within_reference_tolerance(golden):
    """README sec. 4: max |out - out_fp64| <= 1e-4, mean <= 1e-5 (as for the math kernel)."""
    f = golden["forward"]
    fast = FastPath(dtype="float32", attention="sdpa", channels_last=True)
    model = _model(golden, fast)
    assert all(m.kernel == "sdpa" for m in model.modules() if isinstance(m, AttentionBlock))
    with torch.no_grad():
        out = model(f["x_t"], f["timesteps"], tokens=f["tokens"], mask=f["mask"])
    diff = (out.double() - f["out_fp64"]).abs()
    assert diff.max().item() <= 1e-4 and diff.mean().item() <= 1e-5


def test_reference_path_is_unchanged(golden):
    f = golden["forward"]
    plain = _forward(_model(golden), f)
    assert torch.equal(_forward(_model(golden, FastPath.reference()), f), plain)


def test_bf16_shortcuts_match_the_upcast_computation():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 16, generator=g).bfloat16() for n in (40, 56, 56))
    scale = 16**-0.25
    logits = torch.matmul(q * scale, (k * scale).transpose(-1, -2))
    upcast = torch.softmax(logits.float(), dim=-1).bfloat16()
    assert torch.equal(attention(q, k, v, kernel="math"), torch.matmul(upcast, v))
    sdpa = attention(q, k, v, kernel="sdpa").float()
    exact = attention(q.double(), k.double(), v.double())
    assert (sdpa - exact).abs().max() < 2e-2
    norm = GroupNorm32(4, 8)
    with torch.no_grad():
        norm.weight.normal_(generator=g)
        norm.bias.normal_(generator=g)
    x = torch.randn(2, 8, 6, 6, generator=g).bfloat16()
    want = torch.nn.functional.group_norm(x.float(), 4, norm.weight, norm.bias, 1e-5)
    got = norm(x)
    assert got.dtype == torch.bfloat16
    ulp = want.abs().clamp(min=2**-10) * 2**-7  # one bf16 unit in the last place
    assert ((got.float() - want).abs() <= ulp).all()


def test_options_and_errors(golden):
    with pytest.raises(GlideError, match="dtype='float64' is invalid"):
        FastPath(dtype="float64")
    with pytest.raises(GlideError, match="attention='flash' is invalid"):
        FastPath(attention="flash")
    with pytest.raises(GlideError, match="FastPath"):
        apply_fast_path(_model(golden), {"dtype": "bfloat16"})
    with pytest.raises(ValueError, match="kernel='xla'"):
        attention(torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4),
                  kernel="xla")  # fmt: skip
    assert FastPath.reference().describe() == {
        "dtype": "float32", "attention": "math", "channels_last": False, "compile": False,
    }  # fmt: skip
    cpu = default_fast_path("cpu")
    assert cpu.channels_last and not cpu.compile


def test_pipeline_on_the_fast_path(golden):
    from glide.pipeline import Text2ImPipeline

    captions, seeds = ["a red cube", "a blue ball"], [3, 4]
    plain = Text2ImPipeline(_model(golden))
    want = plain(captions, seeds, sampler="dpm++2m", steps="5")
    assert "fast_path" not in plain.describe()
    pipe = Text2ImPipeline(_model(golden)).use_fast_path(FastPath())
    got = pipe(captions, seeds, sampler="dpm++2m", steps="5")
    assert pipe.describe()["fast_path"] == FastPath().describe()
    assert pipe.describe()["base"]["dtype"] == "bfloat16"
    diff = abs(got.astype(int) - want.astype(int)).mean()
    other = plain(captions, [5, 6], sampler="dpm++2m", steps="5")
    unrelated = abs(other.astype(int) - want.astype(int)).mean()
    assert 0 < diff < 0.2 * unrelated, (diff, unrelated)  # bf16 rounding of the same images


def test_fast_path_for_a_dtype_and_the_sample_cli(golden, tmp_path):
    from glide import sample as sample_cli
    from glide.checkpoints import save_checkpoint, write_options_file
    from glide.fast import fast_path_for

    assert fast_path_for("cpu", "float32") is None
    assert fast_path_for("cpu", "float16").dtype == "float16"
    with pytest.raises(GlideError, match="dtype='int8'"):
        fast_path_for("cpu", "int8")
    ckpts = tmp_path / "ckpts"
    ckpts.mkdir()
    save_checkpoint(_model(golden), ckpts / "base.pt")
    write_options_file(ckpts, {"base": golden["options"]})
    out = tmp_path / "out"
    argv = ["--prompt", "a red cube", "--sampler", "dpm++2m", "--steps", "4", "--dtype",
            "bfloat16", "--checkpoints", str(ckpts), "--out", str(out),
            "--no-progress"]  # fmt: skip
    assert sample_cli.main(argv) == 0
    meta = json.loads(next(out.glob("*.json")).read_text())
    assert meta["pipeline"]["fast_path"] == fast_path_for("cpu", "bfloat16").describe()
    assert meta["settings"]["sampler"] == "dpm++2m"
