"""The one-command demo (`python -m reports.demo`) end to end on the embedded default, tiny."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reports import demo


def test_demo_runs_sweep_and_report_and_prints_the_path(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    argv = ["--out", str(out), "--num-samples", "4", "--scales", "1,3", "--steps", "3",
            "--no-progress"]  # fmt: skip
    assert demo.main(argv) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "%|" not in captured.err  # --no-progress: no bar at all, metric bars included
    report = (out / "report" / "report.html").resolve()
    assert f"report: {report}" in printed.splitlines()[-1]
    assert report.is_file() and (out / "report" / "report.pdf").is_file()
    table = pd.read_csv(out / "sweep" / "results.csv")
    # both methods at both scales, and the real-data floor (method "real", no scale)
    assert set(table["method"]) == {"cfg", "clip", "real"}
    assert set(table["scale"].dropna()) == {1.0, 3.0}
    assert table[table["method"] == "real"]["scale"].isna().all()
    assert "real images score" in report.read_text()
    html = report.read_text()
    assert '<span class="tok">bench.sweep</span>' in html  # the reproducing command is shown
    # a second run resumes: nothing is generated again
    assert demo.main(argv) == 0
    assert "generated 0 images" in capsys.readouterr().out


def test_demo_refuses_too_few_samples(tmp_path: Path, capsys) -> None:
    assert demo.main(["--out", str(tmp_path), "--num-samples", "1"]) == 2
    err = capsys.readouterr().err
    assert "--num-samples 1" in err and not (tmp_path / "sweep").exists()
