"""The GLIDE U-Net against the reference: golden_small forward pass and full-size manifests.

Tolerances are those of glide_reference/README.md sec. 4: float32 vs the reference's float64
run: max abs <= 1e-4, mean abs <= 1e-5 (intermediates: same absolute tolerance); float64 vs
float64: <= 1e-9.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from glide.config import UNetConfig
from glide.errors import GlideError
from glide.text2im import TextEncoding, build_model

UNET_MANIFESTS = ["base", "upsample", "base_inpaint", "upsample_inpaint"]
INTERMEDIATES = (
    ["timestep_sinusoid", "time_emb", "xf_out", "xf_proj", "middle_block"]
    + [f"input_blocks.{i}" for i in range(6)]
    + [f"output_blocks.{i}" for i in range(6)]
)


@pytest.fixture(scope="module")
def golden(reference_dir: Path) -> dict:
    root = reference_dir / "golden_small"
    return {
        "options": json.loads((root / "config.json").read_text())["options"],
        "state_dict": torch.load(root / "state_dict.pt", weights_only=True),
        "forward": torch.load(root / "forward.pt", weights_only=True),
    }


def _golden_model(golden: dict, dtype: torch.dtype) -> torch.nn.Module:
    model = build_model(golden["options"], dtype=dtype)
    model.load_state_dict(golden["state_dict"], strict=True)
    return model


def _record_intermediates(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Attach forward hooks that capture the tensors named in forward.pt."""
    rec: dict[str, torch.Tensor] = {}

    def keep(name: str, take_input: bool = False, transform=None):
        def hook(module, inputs, output):
            value = inputs[0] if take_input else output
            rec[name] = transform(value) if transform else value

        return hook

    model.time_embed.register_forward_hook(keep("timestep_sinusoid", take_input=True))
    model.time_embed.register_forward_hook(keep("time_emb"))
    # final_ln output is (N, L, W); the fixture stores it as the attention layers see it (N, W, L)
    model.final_ln.register_forward_hook(keep("xf_out", transform=lambda t: t.permute(0, 2, 1)))
    model.transformer_proj.register_forward_hook(keep("xf_proj"))
    model.middle_block.register_forward_hook(keep("middle_block"))
    for i, block in enumerate(model.input_blocks):
        block.register_forward_hook(keep(f"input_blocks.{i}"))
    for i, block in enumerate(model.output_blocks):
        block.register_forward_hook(keep(f"output_blocks.{i}"))
    return rec


def test_golden_state_dict_keys_and_order(golden: dict) -> None:
    model = build_model(golden["options"], device="meta")
    expected = golden["state_dict"]
    assert list(model.state_dict()) == list(expected)
    for key, tensor in model.state_dict().items():
        assert tuple(tensor.shape) == tuple(expected[key].shape), key
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 1_204_154


def test_golden_forward_float32(golden: dict) -> None:
    f = golden["forward"]
    model = _golden_model(golden, torch.float32)
    rec = _record_intermediates(model)
    with torch.no_grad():
        out = model(f["x_t"], f["timesteps"], tokens=f["tokens"], mask=f["mask"])
    assert out.dtype == torch.float32 and out.shape == (4, 6, 32, 32)
    diff = (out.double() - f["out_fp64"]).abs()
    assert diff.max().item() <= 1e-4
    assert diff.mean().item() <= 1e-5
    assert set(rec) == set(INTERMEDIATES)
    for name in INTERMEDIATES:
        assert rec[name].shape == f[name].shape, name
        err = (rec[name].double() - f[name].double()).abs().max().item()
        assert err <= 1e-4, f"{name}: max abs diff {err}"
    # classifier-free guidance layout of the fixture: rows 0/1 cond, rows 2/3 uncond
    eps = out[:, :3]
    guided = eps[2:] + 3.0 * (eps[:2] - eps[2:])
    assert (guided.double() - f["cfg_guided_eps_scale3_fp64"]).abs().max().item() <= 1e-3


def test_golden_forward_float64(golden: dict) -> None:
    f = golden["forward"]
    model = _golden_model(golden, torch.float64)
    with torch.no_grad():
        out = model(f["x_t"].double(), f["timesteps"], tokens=f["tokens"], mask=f["mask"])
    assert out.dtype == torch.float64
    assert (out - f["out_fp64"]).abs().max().item() <= 1e-9


def test_text_encoding_reused_gives_identical_output(golden: dict) -> None:
    f = golden["forward"]
    model = _golden_model(golden, torch.float32)
    with torch.no_grad():
        direct = model(f["x_t"], f["timesteps"], tokens=f["tokens"], mask=f["mask"])
        enc = model.encode_text(f["tokens"], f["mask"])
        reused = model(f["x_t"], f["timesteps"], text=enc)
        # row selection on the encoding lines up with the same rows of x
        rows = torch.tensor([2, 0])
        picked = model(f["x_t"][rows], f["timesteps"][rows], text=enc[rows])
    assert isinstance(enc, TextEncoding)
    assert enc.proj.shape == (4, 128) and enc.seq.shape == (4, 4, 16)
    assert torch.equal(direct, reused)
    torch.testing.assert_close(picked, direct[rows], atol=1e-5, rtol=0)


def test_padding_embedding_replaces_masked_positions(golden: dict) -> None:
    """Changing a token under a False mask must not change the output (it is replaced)."""
    f = golden["forward"]
    model = _golden_model(golden, torch.float32)
    tokens = f["tokens"][:1].clone()
    mask = f["mask"][:1]
    altered = tokens.clone()
    altered[0, -1] = 123  # position 15 is padding in row 0
    with torch.no_grad():
        a = model.encode_text(tokens, mask)
        b = model.encode_text(altered, mask)
        c = model.encode_text(altered, torch.ones_like(mask))
    assert torch.equal(a.proj, b.proj) and torch.equal(a.seq, b.seq)
    assert not torch.allclose(a.proj, c.proj)


def test_forward_argument_errors(golden: dict) -> None:
    f = golden["forward"]
    model = _golden_model(golden, torch.float32)
    x, t = f["x_t"][:1], f["timesteps"][:1]
    with pytest.raises(GlideError, match="tokens="):
        model(x, t)
    with pytest.raises(GlideError, match="text_ctx=16"):
        model(x, t, tokens=torch.zeros(1, 8, dtype=torch.long), mask=torch.ones(1, 8, dtype=bool))
    with pytest.raises(GlideError, match="mask"):
        model(x, t, tokens=f["tokens"][:1])
    with pytest.raises(GlideError, match="low_res"):
        model(x, t, tokens=f["tokens"][:1], mask=f["mask"][:1], low_res=x)
    with pytest.raises(GlideError, match="timesteps"):
        model(x, f["timesteps"], tokens=f["tokens"][:1], mask=f["mask"][:1])


@pytest.mark.parametrize("name", UNET_MANIFESTS)
def test_full_size_manifest_keys_and_shapes(reference_dir: Path, name: str) -> None:
    manifest = json.loads((reference_dir / "manifests" / f"{name}.json").read_text())
    model = build_model(manifest["options"], device="meta")
    assert type(model).__name__.lower() == manifest["resolved"]["model_class"].lower()
    got = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    expected = [(e["key"], e["shape"]) for e in manifest["state_dict"]]
    assert got == expected  # same keys, same shapes, same order
    assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]
    assert not list(model.buffers())
    cfg = model.config
    assert cfg.in_channels == manifest["resolved"]["in_channels"]
    assert list(cfg.channel_mult) == manifest["resolved"]["channel_mult"]
    assert (
        list(cfg.attention_downsample_rates) == manifest["resolved"]["attention_downsample_rates"]
    )
    assert cfg == UNetConfig.preset(name.replace("_", "-"))


def _tiny(**changes) -> UNetConfig:
    base = dict(
        image_size=16,
        model_channels=32,
        num_res_blocks=1,
        channel_mult=(1, 2),
        attention_resolutions=(8,),
        num_head_channels=16,
        text_ctx=8,
        xf_width=32,
        xf_layers=1,
        xf_heads=2,
        n_vocab=100,
    )
    base.update(changes)
    return UNetConfig(**base)


@pytest.mark.parametrize(
    "variant", [{}, {"super_res": True}, {"inpaint": True}, {"super_res": True, "inpaint": True}]
)
def test_variants_forward_shapes(variant: dict) -> None:
    torch.manual_seed(0)
    model = build_model(_tiny(**variant))
    x = torch.randn(2, 3, 16, 16)
    tokens = torch.randint(0, 99, (2, 8))
    mask = torch.ones(2, 8, dtype=torch.bool)
    kwargs = {}
    if variant.get("super_res"):
        kwargs["low_res"] = torch.rand(2, 3, 8, 8) * 2 - 1
    if variant.get("inpaint"):
        kwargs["inpaint_image"] = torch.rand(2, 3, 16, 16) * 2 - 1
        kwargs["inpaint_mask"] = torch.ones(2, 1, 16, 16)
    with torch.no_grad():
        out = model(x, torch.tensor([5, 900]), tokens=tokens, mask=mask, **kwargs)
    assert out.shape == (2, 6, 16, 16) and torch.isfinite(out).all()
    if variant.get("super_res"):
        with pytest.raises(GlideError, match="low_res"):
            model(x, torch.tensor([5, 900]), tokens=tokens, mask=mask)


def test_no_resblock_updown_and_no_text() -> None:
    model = build_model(_tiny(resblock_updown=False, use_scale_shift_norm=False, xf_width=0))
    keys = model.state_dict().keys()
    assert "input_blocks.2.0.op.weight" in keys
    assert not any(k.startswith(("transformer", "token_embedding")) for k in keys)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 16, 16), torch.tensor([3]))
    assert out.shape == (1, 6, 16, 16)
    with pytest.raises(GlideError, match="xf_width=0"):
        model(torch.randn(1, 3, 16, 16), torch.tensor([3]), tokens=torch.zeros(1, 8).long())


def test_fresh_model_starts_from_zero_output() -> None:
    """The final conv is zero-initialised, so an untrained model predicts zeros."""
    model = build_model(_tiny())
    with torch.no_grad():
        out = model(
            torch.randn(1, 3, 16, 16),
            torch.tensor([10]),
            tokens=torch.zeros(1, 8, dtype=torch.long),
            mask=torch.ones(1, 8, dtype=torch.bool),
        )
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_on_cpu_runs_close_to_float32(golden: dict, dtype: torch.dtype) -> None:
    f = golden["forward"]
    model = _golden_model(golden, dtype)
    with torch.no_grad():
        out = model(f["x_t"].to(dtype), f["timesteps"], tokens=f["tokens"], mask=f["mask"])
    assert out.dtype == dtype and torch.isfinite(out).all()
    err = (out.double() - f["out_fp64"]).abs().mean().item()
    assert err < 0.1  # low precision, but the same function


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_golden_forward_on_cuda(golden: dict, dtype: torch.dtype) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    f = {k: v.cuda() for k, v in golden["forward"].items()}
    model = _golden_model(golden, torch.float32).to(device="cuda", dtype=dtype)
    with torch.no_grad():
        out = model(f["x_t"].to(dtype), f["timesteps"], tokens=f["tokens"], mask=f["mask"])
    diff = (out.double() - f["out_fp64"]).abs()
    tol = {torch.float32: 1e-3, torch.bfloat16: 0.1, torch.float16: 0.05}[dtype]
    assert diff.mean().item() < tol
