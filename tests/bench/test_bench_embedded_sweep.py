"""The sweep on the embedded default models and evaluation networks (slow: real sampling)."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.sweep import main


@pytest.mark.slow
def test_embedded_default_sweep_both_methods(tmp_path, capsys):
    from glide.embedded import embedded_files

    needed = ("base.pt", "clip_image_enc.pt", "clip_text_enc.pt", "glide_options.json")
    missing = [name for name in needed if not embedded_files()[name]]
    if missing:
        pytest.skip(f"embedded default weights not installed yet: {missing}")
    out = tmp_path / "sweep"
    argv = [
        "--method", "cfg,clip", "--scales", "1,3", "--num-samples", "8", "--steps", "10",
        "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    table = pd.read_csv(out / "results.csv")
    metrics = {"fid", "is", "kid", "precision", "recall", "clip_score", "caption_match"}
    metrics.add("attribute_match")
    assert set(table["metric"]) == metrics and len(table) == 4 * len(metrics)
    # IS needs splits of 200 images with the embedded extractor: none at this size, said so
    is_rows = table[table["metric"] == "is"]
    assert is_rows["value"].isna().all() and is_rows["notes"].str.contains("no value").all()
    assert table[table["metric"] != "is"]["value"].notna().all()
    assert set(table.loc[table["metric"] == "fid", "extractor"]) == {"glide-bench-synth"}
    match = table[table["metric"] == "caption_match"]["value"]
    assert ((match >= 0) & (match <= 1)).all()
    partial = table[table["metric"] == "attribute_match"]["value"]
    assert (partial.to_numpy() >= match.to_numpy()).all() and (partial <= 1).all()
    for name in ("pareto_pr", "pareto_clip_fid"):
        assert (out / "plots" / f"{name}.png").is_file()
