"""Samplers: trajectory replay against an independent step-by-step implementation of the
formulas (float64 numpy, written here from the papers), noise plumbing, determinism and
batch-size independence, with the golden_small reference model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import glide
from glide.diffusion import create_diffusion
from glide.errors import GlideError
from glide.guidance import classifier_free
from glide.sampling import randn_rows, sample_ancestral, sample_ddim
from glide.tokenizer import get_glide_tokenizer


@pytest.fixture(scope="module")
def golden(reference_dir):
    ref = reference_dir / "golden_small"
    options = json.loads((ref / "config.json").read_text())["options"]
    model = glide.build_model(options)
    model.load_state_dict(torch.load(ref / "state_dict.pt", weights_only=True))
    return model


@pytest.fixture(scope="module")
def texts(golden):
    tokens, mask = get_glide_tokenizer().encode_batch(
        ["an oil painting of a corgi", "a red cube", ""], golden.config.text_ctx
    )
    with torch.no_grad():
        enc = golden.encode_text(tokens, mask)
    return enc


# ----- the independent implementation -----------------------------------------------------


def kept_steps(spec: str) -> list[int]:
    """The kept original steps for "10" and "27", from the rule: i * 999/(N-1) accumulated as a
    float sum, rounded half to even (see test_schedule for the hand-derived sets)."""
    n = int(spec)
    out, pos = [], 0.0
    for _ in range(n):
        out.append(round(pos))
        pos += 999 / (n - 1)
    return out


def reference_schedule(spec: str) -> dict[str, np.ndarray]:
    T = 1000
    f = [math.cos((i / T + 0.008) / 1.008 * math.pi / 2) ** 2 for i in range(T + 1)]
    betas = np.array([min(1 - f[i + 1] / f[i], 0.999) for i in range(T)])
    abar_full = np.cumprod(1 - betas)
    keep = kept_steps(spec)
    abar = abar_full[keep]
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    beta = 1 - abar / abar_prev
    post_var = beta * (1 - abar_prev) / (1 - abar)
    return dict(keep=np.array(keep), abar=abar, abar_prev=abar_prev, beta=beta, post_var=post_var)


def reference_step(s, k, x, model_out, z, sampler, eta=0.0):
    """x_{k-1} from x_k (float64 numpy), IDDPM eqs. 10-15 / DDIM eq. 12."""
    eps, v = model_out[:, :3], model_out[:, 3:]
    a, ap = s["abar"][k], s["abar_prev"][k]
    x0 = np.clip((x - math.sqrt(1 - a) * eps) / math.sqrt(a), -1, 1)
    if sampler == "ddim":
        eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        sigma = eta * math.sqrt((1 - ap) / (1 - a)) * math.sqrt(1 - a / ap)
        out = math.sqrt(ap) * x0 + math.sqrt(1 - ap - sigma**2) * eps
        return out + sigma * z if k > 0 else out
    c1 = s["beta"][k] * math.sqrt(ap) / (1 - a)
    c2 = (1 - ap) * math.sqrt(1 - s["beta"][k]) / (1 - a)
    mean = c1 * x0 + c2 * x
    if k == 0:
        return mean
    log_post = math.log(s["post_var"][max(k, 1)])
    frac = (v + 1) / 2
    log_var = frac * math.log(s["beta"][k]) + (1 - frac) * log_post
    return mean + np.exp(0.5 * log_var) * z


@pytest.mark.parametrize(
    "spec,sampler,scale,eta",
    [
        ("10", "ancestral", 3.0, 0.0),
        ("27", "ddim", 3.0, 0.0),
        ("27", "ancestral", 1.0, 0.0),
        ("10", "ddim", 1.0, 0.7),
    ],
)
def test_trajectory_replay(golden, texts, spec, sampler, scale, eta):
    """Our loop vs the formulas, step by step, with the same x_T and per-step noise."""
    d = create_diffusion(1000, "squaredcos_cap_v2", spec)
    s = reference_schedule(spec)
    assert d.timestep_map.tolist() == s["keep"].tolist()
    n, shape = 2, (2, 3, 32, 32)
    g = torch.Generator().manual_seed(7)
    x_T = torch.randn(shape, generator=g)
    zs = torch.randn((len(s["keep"]), *shape), generator=g)
    cond = {"text": texts[:2], "uncond": {"text": texts[[2, 2]]}}
    denoiser = classifier_free(golden, scale)
    calls: list[int] = []
    ours: list[torch.Tensor] = []

    def noise_sampler(i):
        calls.append(i)
        return zs[i]

    run = sample_ancestral if sampler == "ancestral" else sample_ddim
    kwargs = {"eta": eta} if sampler == "ddim" else {}
    final = run(
        denoiser,
        d,
        shape,
        noise=x_T,
        noise_sampler=noise_sampler,
        cond=cond,
        callback=lambda info: ours.append(info["sample"]),
        **kwargs,
    )
    assert calls == list(range(len(s["keep"])))  # one draw per step, the last one included
    torch.testing.assert_close(final, ours[-1], rtol=0, atol=0)

    x = x_T.double().numpy()
    worst = 0.0
    for i, k in enumerate(range(len(s["keep"]) - 1, -1, -1)):
        t = torch.full((n,), int(s["keep"][k]))
        xin = torch.from_numpy(x).float()
        with torch.no_grad():
            if scale == 1.0:
                out = golden(xin, t, text=texts[:2])
            else:
                both = golden(
                    torch.cat([xin, xin]),
                    torch.cat([t, t]),
                    text=glide.text2im.TextEncoding.cat([texts[:2], texts[[2, 2]]]),
                )
                c, u = both[:n], both[n:]
                out = torch.cat([u[:, :3] + scale * (c[:, :3] - u[:, :3]), c[:, 3:]], 1)
        x = reference_step(s, k, x, out.double().numpy(), zs[i].double().numpy(), sampler, eta)
        diff = np.abs(ours[i].double().numpy() - x).max()
        worst = max(worst, diff)
        assert diff <= 5e-3, f"step {i} (t={s['keep'][k]}): max |ours - formulas| = {diff}"
    assert worst < 5e-3


def test_determinism_and_batch_size_independence(golden, texts):
    d = create_diffusion(1000, "squaredcos_cap_v2", "10")
    cond = {"text": texts[:3]}

    def run(seeds, rows):
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        c = {"text": cond["text"][rows]}
        return sample_ancestral(golden, d, (len(seeds), 3, 16, 16), generators=gens, cond=c)

    both = run([11, 12, 13], [0, 1, 2])
    again = run([11, 12, 13], [0, 1, 2])
    assert torch.equal(both, again)
    alone = run([12], [1])
    reordered = run([13, 11], [2, 0])
    torch.testing.assert_close(alone[0], both[1], rtol=0, atol=1e-4)
    torch.testing.assert_close(reordered[1], both[0], rtol=0, atol=1e-4)
    torch.testing.assert_close(reordered[0], both[2], rtol=0, atol=1e-4)
    assert (both[0] - both[1]).abs().max() > 0.1  # different seeds -> different samples


def test_per_row_generators_draw_x_T_then_one_per_step(golden, texts):
    d = create_diffusion(1000, "squaredcos_cap_v2", "3")
    seen = []
    sample_ddim(
        golden,
        d,
        (1, 3, 8, 8),
        eta=1.0,
        generators=[torch.Generator().manual_seed(5)],
        cond={"text": texts[:1]},
        callback=lambda info: seen.append(info),
    )
    g = torch.Generator().manual_seed(5)
    x_T = torch.randn(3, 8, 8, generator=g)
    assert torch.equal(seen[0]["x_t"][0], x_T)
    for info in seen:
        assert torch.equal(info["noise"][0], torch.randn(3, 8, 8, generator=g))
    assert [i["t"] for i in seen] == [999, 500, 0] and [i["index"] for i in seen] == [2, 1, 0]


def test_ddim_eta0_is_deterministic_given_x_T(golden, texts):
    d = create_diffusion(1000, "squaredcos_cap_v2", "5")
    x_T = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    a = sample_ddim(
        golden,
        d,
        x_T.shape,
        noise=x_T,
        generators=[torch.Generator().manual_seed(1)],
        cond={"text": texts[:1]},
    )
    b = sample_ddim(
        golden,
        d,
        x_T.shape,
        noise=x_T,
        generators=[torch.Generator().manual_seed(2)],
        cond={"text": texts[:1]},
    )
    assert torch.equal(a, b)
    c = sample_ddim(
        golden,
        d,
        x_T.shape,
        eta=1.0,
        noise=x_T,
        generators=[torch.Generator().manual_seed(2)],
        cond={"text": texts[:1]},
    )
    assert not torch.equal(a, c)
    assert a.abs().max() <= 1.0


def test_bad_input():
    d = create_diffusion(1000, "squaredcos_cap_v2", "2")

    def fake(x, t, **kw):
        return torch.zeros(x.shape[0], 6, *x.shape[2:])

    with pytest.raises(GlideError, match="one torch.Generator per sample"):
        sample_ancestral(fake, d, (2, 3, 4, 4), generators=[torch.Generator()])
    with pytest.raises(GlideError, match="noise has shape"):
        sample_ancestral(fake, d, (2, 3, 4, 4), noise=torch.zeros(1, 3, 4, 4))
    with pytest.raises(GlideError, match=r"noise_sampler\(0\) returned shape"):
        sample_ancestral(fake, d, (2, 3, 4, 4), noise_sampler=lambda i: torch.zeros(3, 4, 4))
    with pytest.raises(GlideError, match="eta=-1"):
        sample_ddim(fake, d, (2, 3, 4, 4), eta=-1)
    with pytest.raises(GlideError, match=r"\(N, C, H, W\)"):
        sample_ddim(fake, d, (3, 4, 4))
    with pytest.raises(GlideError, match="the denoiser returned"):
        sample_ancestral(lambda x, t: x, d, (2, 3, 4, 4))


def test_randn_rows_matches_independent_draws():
    gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
    x = randn_rows((2, 3, 2, 2), gens)
    assert torch.equal(x[1], torch.randn(3, 2, 2, generator=torch.Generator().manual_seed(2)))


def test_default_randomness_is_per_row_and_batch_independent() -> None:
    # no noise, no generators: row i draws from its own generator seeded with i
    d = create_diffusion(100, "linear", "5")

    def fake(x, t, **_):
        return torch.cat([0.1 * x, torch.zeros_like(x)], dim=1)

    four = sample_ancestral(fake, d, (4, 3, 4, 4))
    two = sample_ancestral(fake, d, (2, 3, 4, 4))
    assert torch.equal(four[:2], two)  # the first rows do not depend on the batch size
    ddim = [sample_ddim(fake, d, (n, 3, 4, 4), eta=1.0) for n in (4, 2)]
    assert torch.equal(ddim[0][:2], ddim[1])
    assert not torch.equal(four[0], four[1])


def test_ascii_digits_only_in_respacing() -> None:
    from glide.schedule import space_timesteps

    for bad in ("ddim\u0665", "\u0663", "10,\u0663"):
        with pytest.raises(GlideError, match="malformed"):
            space_timesteps(1000, bad)  # an Arabic-Indic five is not a step count
