"""The noised CLIP: structure against the manifests, and behaviour of f(x_t, t) and g(c).

There are no numeric goldens for CLIP; the structure (every key and shape of both official
checkpoints) is checked on the meta device, and the forward pass against a naive restatement of
the reference's computation (sequences padded to multiples of 32, padded keys masked with -1e10,
q and k each scaled by head_dim^(-1/4)), in float64.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import glide
from glide.clip import (
    CLIP_PRESETS,
    CLIP_SMALL,
    IMAGE_CHANNEL_MEANS,
    IMAGE_CHANNEL_STDS,
    NoisedCLIP,
    build_clip,
    clip_config,
)
from glide.config import CLIPConfig
from glide.errors import GlideError
from glide.tokenizer import get_clip_tokenizer

# a tiny config that still exercises several heads, blocks and patches
TINY = CLIPConfig(
    n_vocab=49408,
    n_embd=16,
    image_size=16,
    patch_size=4,
    n_timesteps=50,
    n_head_text=2,
    n_head_state_text=8,
    n_xf_blocks_text=2,
    n_head_image=2,
    n_head_state_image=8,
    n_xf_blocks_image=2,
)


def _manifest(reference_dir: Path, name: str) -> dict:
    return json.loads((reference_dir / "manifests" / name).read_text(encoding="utf-8"))


def _tiny(seed: int = 0, dtype: torch.dtype = torch.float64) -> NoisedCLIP:
    model = build_clip(TINY, dtype=dtype)
    model.reset_parameters(torch.Generator().manual_seed(seed))
    # non-zero biases and LayerNorm shifts so that every parameter matters in the comparisons
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith((".b", ".g")):
                p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return model


def _tiny_text(model: NoisedCLIP) -> tuple[torch.Tensor, torch.Tensor]:
    captions = ["a red cube", "", "two small blue spheres on a green floor", "a"]
    return get_clip_tokenizer().encode_batch(captions, model.config.max_text_len)


# ---------------------------------------------------------------- structure


@pytest.mark.parametrize(
    ("manifest", "attr"),
    [("clip_image_enc.json", "image_encoder"), ("clip_text_enc.json", "text_encoder")],
)
def test_state_dict_equals_official_checkpoint_manifest(
    reference_dir: Path, manifest: str, attr: str
) -> None:
    data = _manifest(reference_dir, manifest)
    for config in ("clip", data["config_yaml"], CLIPConfig.from_yaml_dict(data["config_yaml"])):
        model = build_clip(config, device="meta")
        state = getattr(model, attr).state_dict()
        expected = [(e["key"], tuple(e["shape"])) for e in data["state_dict"]]
        assert [(k, tuple(v.shape)) for k, v in state.items()] == expected
        assert sum(v.numel() for v in state.values()) == data["num_parameters"]
        assert len(state) == data["num_state_dict_entries"]
        assert all(v.dtype == torch.float32 for v in state.values())
        # no buffers leak into the checkpoint layout (the reference has none either)
        assert set(state) == {k for k, _ in getattr(model, attr).named_parameters()}


def test_official_sizes_resolve_as_in_the_manifests(reference_dir: Path) -> None:
    image = _manifest(reference_dir, "clip_image_enc.json")["resolved"]
    text = _manifest(reference_dir, "clip_text_enc.json")["resolved"]
    model = build_clip("clip", device="meta")
    assert model.image_encoder.width == image["n_state (= n_head_image*n_head_state_image)"]
    assert model.text_encoder.width == text["n_state (= n_head_text*n_head_state_text)"]
    w_pos = model.image_encoder.blocks["input"].w_pos
    assert w_pos.shape[0] == image["n_context (1 + (image_size/patch_size)^2)"]
    assert model.text_encoder.blocks["input"].w_voc.shape[0] == text["n_bpe_vocab (embedding rows)"]
    for values in (IMAGE_CHANNEL_MEANS, IMAGE_CHANNEL_STDS):
        assert str(list(values)) in image["input_pixel_scale"]
    inp = build_clip(TINY).image_encoder.blocks["input"]
    assert inp.channel_means.flatten().tolist() == pytest.approx(IMAGE_CHANNEL_MEANS)
    assert inp.channel_stds.flatten().tolist() == pytest.approx(IMAGE_CHANNEL_STDS)


def test_logit_scale_is_log_100_and_not_in_any_state_dict() -> None:
    model = build_clip(TINY)
    assert model.logit_scale.shape == ()
    assert model.logit_scale.item() == pytest.approx(math.log(100.0))
    assert model.logit_scale.exp().item() == pytest.approx(100.0, rel=1e-6)
    assert not any("logit_scale" in k or "channel" in k for k in model.state_dict())
    assert model.to(torch.float64).logit_scale.dtype == torch.float64


def test_strict_round_trip_of_both_encoders(tmp_path: Path) -> None:
    a, b = _tiny(seed=0), _tiny(seed=5)
    torch.save(a.image_encoder.state_dict(), tmp_path / "img.pt")
    torch.save(a.text_encoder.state_dict(), tmp_path / "txt.pt")
    b.image_encoder.load_state_dict(torch.load(tmp_path / "img.pt", weights_only=True))
    b.text_encoder.load_state_dict(torch.load(tmp_path / "txt.pt", weights_only=True))
    x, t = torch.randn(2, 3, 16, 16, dtype=torch.float64), torch.tensor([3, 40])
    tokens, text_len = _tiny_text(a)
    assert torch.equal(a.image_embeddings(x, t), b.image_embeddings(x, t))
    assert torch.equal(a.text_embeddings(tokens, text_len), b.text_embeddings(tokens, text_len))


def test_presets_and_public_entry_points() -> None:
    assert glide.build_clip is build_clip
    assert clip_config("clip") == CLIPConfig() == CLIP_PRESETS["clip"]
    assert clip_config("clip-small") is CLIP_SMALL
    assert clip_config(CLIP_SMALL.to_yaml_dict()) == CLIP_SMALL
    small = build_clip("clip-small", device="meta")
    n_params = sum(p.numel() for p in small.parameters())
    assert n_params < 5_000_000, n_params
    # the small preset embeds every CLIP tokenizer id
    assert small.text_encoder.blocks["input"].w_voc.shape[0] >= get_clip_tokenizer().vocab_size
    with pytest.raises(GlideError, match="clip-small"):
        build_clip("clip-huge")
    with pytest.raises(GlideError, match="config"):
        build_clip(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------- forward behaviour


def test_forward_shapes_finite_and_unit_norm() -> None:
    model = build_clip("clip-small")
    x = torch.randn(3, 3, 64, 64)
    f = model.image_embeddings(x, torch.tensor([0, 500, 999]))
    tokens, text_len = get_clip_tokenizer().encode_batch(["a corgi", "", "a red cube"])
    g = model.text_embeddings(tokens, text_len)
    assert f.shape == (3, 64) and g.shape == (3, 64)
    assert f.dtype == g.dtype == torch.float32
    assert torch.isfinite(f).all() and torch.isfinite(g).all()
    torch.testing.assert_close(f.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(g.norm(dim=-1), torch.ones(3))
    logits = model.logit_scale.exp() * f @ g.T
    assert logits.shape == (3, 3) and logits.abs().max() <= 100.0 + 1e-3
    torch.testing.assert_close(model.caption_embeddings(["a corgi", "", "a red cube"]), g)


def test_image_embedding_depends_on_the_timestep() -> None:
    model = _tiny()
    x = torch.randn(1, 3, 16, 16, dtype=torch.float64).expand(3, -1, -1, -1)
    f = model.image_embeddings(x, torch.tensor([0, 1, 49]))
    assert (f[0] - f[1]).abs().max() > 1e-3
    assert (f[0] - f[2]).abs().max() > 1e-3


def test_image_embeddings_scale_pixels_to_0_255() -> None:
    model = _tiny()
    x, t = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 2 - 1, torch.tensor([7, 8])
    raw = model.image_encoder((x + 1) * 127.5, t)
    torch.testing.assert_close(model.image_embeddings(x, t), raw / raw.norm(dim=-1, keepdim=True))


def test_text_embedding_pools_at_the_end_token_causally() -> None:
    model = _tiny()
    tokens, text_len = _tiny_text(model)
    g = model.text_embeddings(tokens, text_len)
    # ids after the end token cannot reach the pooled position (causal attention)
    after = tokens.clone()
    after[0, text_len[0] :] = 1000
    torch.testing.assert_close(model.text_embeddings(after, text_len), g, rtol=0, atol=1e-12)
    # ids before it do
    before = tokens.clone()
    assert before[0, 1] != 1000
    before[0, 1] = 1000
    assert (model.text_embeddings(before, text_len)[0] - g[0]).abs().max() > 1e-3


def test_batch_independence() -> None:
    model = _tiny(dtype=torch.float32)
    x, t = torch.randn(4, 3, 16, 16), torch.tensor([0, 10, 20, 49])
    tokens, text_len = _tiny_text(model)
    f_batch = model.image_embeddings(x, t)
    g_batch = model.text_embeddings(tokens, text_len)
    for i in range(4):
        f_i = model.image_embeddings(x[i : i + 1], t[i : i + 1])
        g_i = model.text_embeddings(tokens[i : i + 1], text_len[i : i + 1])
        torch.testing.assert_close(f_i[0], f_batch[i], rtol=0, atol=1e-6)
        torch.testing.assert_close(g_i[0], g_batch[i], rtol=0, atol=1e-6)


def test_gradient_flows_to_x_t_for_clip_guidance() -> None:
    model = _tiny(dtype=torch.float32)
    tokens, text_len = _tiny_text(model)
    with torch.no_grad():
        g = model.text_embeddings(tokens[:2], text_len[:2])
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    score = model.logit_scale.exp() * (model.image_embeddings(x, torch.tensor([5, 30])) * g).sum()
    (grad,) = torch.autograd.grad(score, x)
    assert grad.shape == x.shape and torch.isfinite(grad).all()
    assert grad[0].abs().sum() > 0 and grad[1].abs().sum() > 0
    # a step along the gradient raises the score (first-order check)
    with torch.no_grad():
        f_up = model.image_embeddings(x + 1e-3 * grad / grad.norm(), torch.tensor([5, 30]))
        assert (model.logit_scale.exp() * (f_up * g).sum()).item() > score.item()


def test_float64_matches_float32() -> None:
    model64 = _tiny(dtype=torch.float64)
    model32 = _tiny(dtype=torch.float32)
    x, t = torch.randn(2, 3, 16, 16, dtype=torch.float64), torch.tensor([1, 2])
    tokens, text_len = _tiny_text(model64)
    f64 = model64.image_embeddings(x, t)
    assert f64.dtype == torch.float64
    torch.testing.assert_close(
        model32.image_embeddings(x.float(), t).double(), f64, atol=1e-5, rtol=0
    )
    g64 = model64.text_embeddings(tokens, text_len)
    g32 = model32.text_embeddings(tokens, text_len)
    torch.testing.assert_close(g32.double(), g64, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- naive restatement


def _naive_block(block, x: torch.Tensor, causal: bool, n_head: int) -> torch.Tensor:
    """One reference block with the sequence padded to a multiple of 32 and a -1e10 key mask."""

    def ln(mod, h):
        mu = h.mean(-1, keepdim=True)
        var = ((h - mu) ** 2).mean(-1, keepdim=True)
        return (h - mu) / torch.sqrt(var + 1e-5) * mod.g + mod.b

    n, length, width = x.shape
    padded = 32 * math.ceil(length / 32)
    a = block.f_attn
    h = ln(a.ln, x)
    q, k, v = h @ a.f_q.w.T + a.f_q.b, h @ a.f_k.w.T, h @ a.f_v.w.T + a.f_v.b
    q, k, v = (F.pad(z, (0, 0, 0, padded - length)) for z in (q, k, v))
    d = width // n_head
    q, k, v = (z.view(n, padded, n_head, d).permute(0, 2, 1, 3) for z in (q, k, v))
    logits = (q * d**-0.25) @ (k * d**-0.25).transpose(-1, -2)
    allowed = torch.ones(padded, padded, dtype=torch.bool)
    allowed[:, length:] = False
    if causal:
        allowed &= torch.tril(torch.ones(padded, padded, dtype=torch.bool))
    logits = logits + torch.where(allowed, 0.0, -1e10).to(logits.dtype)
    r = (logits.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(n, padded, width)[:, :length]
    x = x + r @ a.f_c.w.T + a.f_c.b
    m = block.f_mlp
    h = ln(m.ln, x) @ m.f_1.w.T + m.f_1.b
    h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
    return x + h @ m.f_2.w.T + m.f_2.b


def test_encoders_match_a_naive_padded_restatement_in_float64() -> None:
    model, cfg = _tiny(), TINY
    x, t = torch.rand(3, 3, 16, 16, dtype=torch.float64) * 2 - 1, torch.tensor([0, 17, 49])
    enc = model.image_encoder
    inp = enc.blocks["input"]
    pixels = ((x + 1) * 127.5 - inp.channel_means) / inp.channel_stds
    p = cfg.patch_size
    side = cfg.image_size // p
    # patch (i, j) -> token 1 + i * side + j; each patch flattened as (channel, row, col)
    patches = pixels.view(3, 3, side, p, side, p).permute(0, 2, 4, 1, 3, 5).reshape(3, side**2, -1)
    tokens_img = patches @ inp.patch_proj.reshape(enc.width, -1).T
    h = torch.cat([inp.w_t[t][:, None], tokens_img], 1) + inp.w_pos
    h = F.layer_norm(h, (enc.width,), inp.ln.g, inp.ln.b, 1e-5)
    for i in range(cfg.n_xf_blocks_image):
        h = _naive_block(enc.blocks[f"block_{i}"], h, False, cfg.n_head_image)
    out = enc.blocks["output"]
    f = F.layer_norm(h[:, 0], (enc.width,), out.ln.g, out.ln.b, 1e-5) @ out.f.w.T
    expected_f = f / f.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(model.image_embeddings(x, t), expected_f, rtol=0, atol=1e-10)

    tokens, text_len = _tiny_text(model)
    txt = model.text_encoder
    h = txt.blocks["input"].w_voc[tokens] + txt.blocks["input"].w_pos
    for i in range(cfg.n_xf_blocks_text):
        h = _naive_block(txt.blocks[f"block_{i}"], h, True, cfg.n_head_text)
    out = txt.blocks["output"]
    pooled = h[torch.arange(len(tokens)), text_len - 1]
    g = F.layer_norm(pooled, (txt.width,), out.ln.g, out.ln.b, 1e-5) @ out.f.w.T
    expected_g = g / g.norm(dim=-1, keepdim=True)
    got_g = model.text_embeddings(tokens, text_len)
    torch.testing.assert_close(got_g, expected_g, rtol=0, atol=1e-10)


# ---------------------------------------------------------------- user errors


def test_bad_inputs_name_the_argument() -> None:
    model = _tiny(dtype=torch.float32)
    x = torch.randn(2, 3, 16, 16)
    with pytest.raises(GlideError, match=r"x_t has shape \(2, 3, 8, 8\)"):
        model.image_embeddings(torch.randn(2, 3, 8, 8), torch.tensor([0, 1]))
    with pytest.raises(GlideError, match=r"t has values in \[0, 50\]; allowed range is \[0, 49\]"):
        model.image_embeddings(x, torch.tensor([0, 50]))
    with pytest.raises(GlideError, match=r"t has shape \(3,\)"):
        model.image_embeddings(x, torch.tensor([0, 1, 2]))
    with pytest.raises(GlideError, match=r"t has shape \(\)"):
        model.image_embeddings(x, torch.tensor(3))
    with pytest.raises(GlideError, match="t must be an integer tensor"):
        model.image_embeddings(x, torch.tensor([0.5, 1.0]))
    tokens, text_len = _tiny_text(model)
    with pytest.raises(GlideError, match=r"tokens has shape \(4, 16\)"):
        model.text_embeddings(tokens[:, :16], text_len)
    with pytest.raises(GlideError, match="text_len has values"):
        model.text_embeddings(tokens, torch.zeros(4, dtype=torch.long))


@pytest.mark.slow
def test_official_size_forward_and_backward() -> None:
    model = build_clip("clip")
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    f = model.image_embeddings(x, torch.tensor([10, 900]))
    g = model.caption_embeddings(["an oil painting of a corgi", "a red cube"])
    assert f.shape == g.shape == (2, 512)
    (grad,) = torch.autograd.grad((f * g).sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_runs_and_stays_close(dtype: torch.dtype) -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model32 = _tiny(dtype=torch.float32).to(device)
    model_half = _tiny(dtype=torch.float32).to(device=device, dtype=dtype)
    x, t = torch.randn(2, 3, 16, 16, device=device), torch.tensor([4, 44], device=device)
    f = model_half.image_embeddings(x, t)
    assert f.dtype == dtype and torch.isfinite(f).all()
    torch.testing.assert_close(f.float(), model32.image_embeddings(x, t), atol=5e-2, rtol=0)
    tokens, text_len = (z.to(device) for z in _tiny_text(model32))
    g = model_half.text_embeddings(tokens, text_len)
    assert g.dtype == dtype and torch.isfinite(g).all()
    torch.testing.assert_close(
        g.float(), model32.text_embeddings(tokens, text_len), atol=5e-2, rtol=0
    )
