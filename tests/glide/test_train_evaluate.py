"""bench.model_eval with a stand-in pipeline and judge (no trained weights needed)."""

from __future__ import annotations

import numpy as np

from bench.model_eval import (
    evaluate_caption_match,
    paired_versus_first,
    time_sampling,
    val_captions,
)


class FakePipe:
    """Image brightness = guidance scale * 10; records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[int], float]] = []
        self.samplers: list[str] = []

    def __call__(self, captions, seeds, *, guidance, scale, steps, sampler="ancestral"):
        assert guidance == "cfg"
        self.calls.append((list(captions), list(seeds), scale))
        self.samplers.append(sampler)
        return np.full((len(captions), 8, 8, 3), int(scale * 10), dtype=np.uint8)


def test_val_captions_are_deterministic_and_mark_heldout() -> None:
    caps, held = val_captions(40, 0)
    assert caps == val_captions(40, 0)[0] and len(caps) == 40
    assert any(held) and not all(held)


def test_accuracy_per_scale_with_same_seeds_at_every_scale() -> None:
    pipe = FakePipe()
    caps = ["a", "b", "c", "d", "e"]
    held = [True, False, False, True, False]

    def judge(images, captions):  # right when bright enough, and only for captions a, b, c
        return (images[:, 0, 0, 0] >= 20) & np.isin(captions, ["a", "b", "c"])

    out = evaluate_caption_match(pipe, caps, held, judge, scales=[1, 2], batch=2, progress=False)
    assert out["1"]["accuracy"] == 0.0
    assert out["2"]["accuracy"] == 0.6
    assert out["2"]["accuracy_heldout"] == 0.5 and out["2"]["n_heldout"] == 2
    assert out["2"]["matches"] == [True, True, True, False, False]
    paired = paired_versus_first(out)
    assert list(paired) == ["2 vs 1"]
    assert paired["2 vs 1"]["better"] == 3 and paired["2 vs 1"]["worse"] == 0
    assert paired["2 vs 1"]["mcnemar_p"] == 0.25  # 3 of 3 discordant pairs: 2 * 2**-3
    seeds_by_scale = {}
    for _, seeds, scale in pipe.calls:
        seeds_by_scale.setdefault(scale, []).extend(seeds)
    assert seeds_by_scale[1.0] == seeds_by_scale[2.0]
    assert set(pipe.samplers) == {"ancestral"}
    timing = time_sampling(pipe, caps, batch=16, repeats=2, sampler="dpm++2m")
    assert timing["batch"] == 16 and len(pipe.calls[-1][0]) == 16
    assert timing["sampler"] == "dpm++2m" and pipe.samplers[-1] == "dpm++2m"


def test_sampler_reaches_the_pipeline() -> None:
    pipe = FakePipe()
    evaluate_caption_match(
        pipe, ["a", "b"], [False, False], lambda im, c: np.ones(len(c), bool),
        scales=[3], sampler="ddim", progress=False,
    )  # fmt: skip
    assert pipe.samplers == ["ddim"]
