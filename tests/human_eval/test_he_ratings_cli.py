"""``python -m human_eval.ratings``: the files of CONTRACTS "Ratings output", from real votes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from he_helpers import make_study

from human_eval.database import open_database
from human_eval.ratings.cli import main as ratings_main
from human_eval.store import VoteStore
from human_eval.vote_tables import set_excluded, votes_frame

# photorealism strength per condition (Elo points); the caption question prefers high scales
TRUTH = {"cfg@0": 0.0, "cfg@3": 150.0, "clip@1": 60.0, "clip@2": 100.0}


def _vote_by_strength(store: VoteStore, raters: int, per_rater: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    db_names = dict(zip(*_condition_names(store), strict=True))
    for r in range(raters):
        rater = store.join_by_name(f"rater{r}")
        for _ in range(per_rater):
            task = store.next_task(rater.id)
            if task is None:
                break
            comp = store.comparisons[task.comparison_id]
            if comp.is_gold:
                choice = "left" if task.left.id == comp.image_a else "right"
            else:
                sa_, sb = TRUTH[db_names[comp.condition_a]], TRUTH[db_names[comp.condition_b]]
                if task.question == "caption":
                    sa_, sb = 2 * sa_, 2 * sb
                p_a = 1.0 / (1.0 + 10 ** ((sb - sa_) / 400.0))
                u = rng.random()
                outcome = "tie" if u > 0.9 else ("a" if u < 0.9 * p_a else "b")
                left_is_a = task.left.id == comp.image_a
                choice = {
                    "tie": "tie",
                    "a": "left" if left_is_a else "right",
                    "b": "right" if left_is_a else "left",
                }[outcome]
            assert store.record_vote(rater.id, task.assignment_id, choice)


def _answer_gold(store: VoteStore, name: str, votes: int, right: bool) -> None:
    """A rater who answers every gold pair right (or wrong) and the rest at random."""
    rng = np.random.default_rng(len(name))
    rater = store.join_by_name(name)
    for _ in range(votes):
        task = store.next_task(rater.id)
        if task is None:
            break
        comp = store.comparisons[task.comparison_id]
        if comp.is_gold:
            real_left = task.left.id == comp.image_a
            choice = "left" if real_left == right else "right"
        else:
            choice = str(rng.choice(["left", "right", "tie"]))
        assert store.record_vote(rater.id, task.assignment_id, choice)


def test_flagged_raters_are_left_out_by_default(
    sqlite_url: str, sweep: Path, tmp_path: Path, capsys
) -> None:
    make_study(sqlite_url, sweep, gold_pairs=6, gold_rate=0.5, repeat_rate=0.0,
               gold_min_answered=3, gold_min_accuracy=0.8)  # fmt: skip
    db = open_database(sqlite_url)
    store = VoteStore(db, "study")
    _answer_gold(store, "careful", 30, right=True)
    _answer_gold(store, "careless", 30, right=False)
    votes = votes_frame(db, store.study)
    db.dispose()
    regular = votes[~votes["is_gold"]]
    out = tmp_path / "default"
    argv = ["--db", sqlite_url, "--study", "study", "--bootstrap", "20"]
    assert ratings_main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "left out: 1 of 2 raters" in printed and "1 flagged by the gold pairs" in printed
    meta = json.loads((out / "ratings.json").read_text())
    assert meta["left_out"]["flagged_by_gold_pairs"] == ["careless"]
    assert meta["counts"]["raters_left_out"] == 1 and not meta["include_flagged"]
    assert sum(meta["counts"]["votes_used"].values()) == (regular["rater"] == "careful").sum()
    raters = pd.read_csv(out / "raters.csv").set_index("rater")
    assert raters.loc["careless", "flagged"] and raters.loc["careless", "left_out"]
    assert not raters.loc["careful", "left_out"]
    kept = tmp_path / "kept"
    assert ratings_main([*argv, "--out", str(kept), "--include-flagged"]) == 0
    meta = json.loads((kept / "ratings.json").read_text())
    assert sum(meta["counts"]["votes_used"].values()) == len(regular)
    assert meta["counts"]["raters_left_out"] == 0 and meta["include_flagged"]


def _condition_names(store: VoteStore):
    from human_eval.vote_tables import conditions_frame

    df = conditions_frame(store.db, store.study)
    return df["condition_id"].tolist(), df["condition"].tolist()


@pytest.fixture
def voted(db_url: str, sweep: Path) -> str:
    make_study(db_url, sweep, gold_pairs=3, gold_rate=0.1)
    db = open_database(db_url)
    _vote_by_strength(VoteStore(db, "study"), raters=6, per_rater=30)
    db.dispose()
    return db_url


def test_ratings_cli_writes_the_contract_files(voted: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ratings"
    assert (
        ratings_main(["--db", voted, "--study", "study", "--out", str(out), "--bootstrap", "100"])
        == 0
    )
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [
        "agreement.csv",
        "plots/rating_vs_scale_caption.png",
        "plots/rating_vs_scale_caption.svg",
        "plots/rating_vs_scale_photorealism.png",
        "plots/rating_vs_scale_photorealism.svg",
        "raters.csv",
        "ratings.csv",
        "ratings.json",
        "winrate_caption.csv",
        "winrate_photorealism.csv",
        "winrates.csv",
    ]
    ratings = pd.read_csv(out / "ratings.csv")
    assert list(ratings.columns) == [
        "question",
        "condition",
        "method",
        "scale",
        "system",
        "rating",
        "ci_low",
        "ci_high",
        "n_votes",
        "anchor",
        "interval_unit",
        "interval_units",
        "interval_method",
    ]
    assert len(ratings) == 2 * 2 * 4  # questions x systems x conditions
    assert (ratings["anchor"] == "cfg@0 = 0").all()
    assert (ratings["interval_unit"] == "rater").all() and (ratings["interval_units"] == 6).all()
    assert ratings["interval_method"].str.contains("t(G-1)/z", regex=False).all()
    ref = ratings[ratings["condition"] == "cfg@0"]
    assert (ref[["rating", "ci_low", "ci_high"]] == 0).all().all()  # the reference is 0
    cap = ratings[(ratings["question"] == "caption") & (ratings["system"] == "elo")]
    assert cap.set_index("condition")["rating"].idxmax() == "cfg@3"  # strongest by far
    assert (ratings["ci_low"] <= ratings["rating"]).all()
    assert (ratings["rating"] <= ratings["ci_high"]).all()
    win = pd.read_csv(out / "winrate_photorealism.csv", index_col=0)
    assert list(win.index) == list(win.columns) == ["cfg@0", "cfg@3", "clip@1", "clip@2"]
    both = win.to_numpy() + win.to_numpy().T
    assert np.allclose(both[~np.eye(4, dtype=bool)], 1.0)
    winrates = pd.read_csv(out / "winrates.csv")
    assert list(winrates.columns) == [
        "question",
        "condition",
        "opponent",
        "win_rate",
        "ci_low",
        "ci_high",
        "n_votes",
        "interval_unit",
        "interval_units",
        "interval_method",
    ]
    assert len(winrates) == 2 * 4 * 3 and (winrates["interval_unit"] == "rater").all()
    voted_pairs = winrates[winrates["n_votes"] > 0]
    assert (voted_pairs["ci_low"] <= voted_pairs["win_rate"]).all()
    assert (voted_pairs["win_rate"] <= voted_pairs["ci_high"]).all()
    assert voted_pairs["ci_low"].ge(0).all() and voted_pairs["ci_high"].le(1).all()
    one = winrates.set_index(["question", "condition", "opponent"]).loc[
        ("photorealism", "cfg@3", "clip@1"), "win_rate"
    ]
    assert one == pytest.approx(win.loc["cfg@3", "clip@1"])
    agreement = pd.read_csv(out / "agreement.csv")
    assert list(agreement.columns) == [
        "question",
        "statistic",
        "value",
        "ci_low",
        "ci_high",
        "n_items",
        "interval_unit",
        "interval_units",
        "interval_method",
    ]
    assert set(agreement["statistic"]) >= {"krippendorff_alpha_nominal", "fleiss_kappa"}
    assert (agreement["interval_unit"] == "comparison").all()
    assert (agreement["interval_units"] == agreement["n_items"]).all()
    raters = pd.read_csv(out / "raters.csv")
    assert list(raters.columns) == [
        "rater", "status", "n_votes", "gold_answered", "gold_accuracy", "flagged", "excluded",
        "left_out",
    ]  # fmt: skip
    assert raters["n_votes"].tolist() == [30] * 6 and not raters["left_out"].any()
    meta = json.loads((out / "ratings.json").read_text())
    assert meta["study"] == "study" and meta["reference"] == "cfg@0"
    assert meta["anchor"]["choice"] == "condition" and meta["anchor"]["text"] == "cfg@0 = 0"
    assert "-88.6" in meta["anchor"]["note"]
    assert meta["bootstrap"]["unit"] == "rater" and "raters" in meta["bootstrap"]["method"]
    rated = meta["intervals"]["ratings_and_win_rates"]
    assert rated["unit"] == "rater" and rated["per_question"]["photorealism"]["units"] == 6
    assert meta["intervals"]["agreement"]["unit"] == "comparison"
    assert meta["counts"]["votes_total"] == 180
    assert (
        meta["counts"]["votes_used"]["photorealism"] + meta["counts"]["votes_used"]["caption"]
        == 180 - meta["counts"]["votes_gold"] - meta["counts"]["votes_repeat"]
    )
    assert (
        "half a win" in meta["tie_convention"] and meta["elo"]["points_per_factor_10_odds"] == 400
    )
    assert meta["db"].split("://")[0] in ("sqlite", "postgresql+psycopg")
    printed = capsys.readouterr().out
    assert "ratings written to" in printed
    assert "photorealism: Elo points, anchor cfg@0 = 0" in printed
    assert "bootstrap over 6 raters" in printed and "-88.6" in printed


def test_excluded_raters_are_left_out(sqlite_url: str, sweep: Path, tmp_path: Path) -> None:
    make_study(sqlite_url, sweep, gold_pairs=0)
    db = open_database(sqlite_url)
    store = VoteStore(db, "study")
    _vote_by_strength(store, raters=3, per_rater=20)
    set_excluded(db, store.study, "rater0", True, "test")
    votes = votes_frame(db, store.study)
    db.dispose()
    # a rater's repeat of an item (intra-rater consistency) is never a second vote
    first = votes[votes["repeat"] == 0]
    out = tmp_path / "o"
    assert (
        ratings_main(
            ["--db", sqlite_url, "--study", "study", "--out", str(out), "--bootstrap", "20"]
        )
        == 0
    )
    meta = json.loads((out / "ratings.json").read_text())
    assert sum(meta["counts"]["votes_used"].values()) == (first["rater"] != "rater0").sum()
    assert meta["counts"]["votes_repeat"] == (votes["repeat"] > 0).sum()
    assert pd.read_csv(out / "raters.csv")["left_out"].tolist() == [True, False, False]
    out2 = tmp_path / "o2"
    assert (
        ratings_main(
            [
                "--db",
                sqlite_url,
                "--study",
                "study",
                "--out",
                str(out2),
                "--bootstrap",
                "20",
                "--include-excluded",
            ]
        )
        == 0
    )
    assert sum(
        json.loads((out2 / "ratings.json").read_text())["counts"]["votes_used"].values()
    ) == len(first)


def test_ratings_cli_bad_input_writes_nothing(
    sqlite_url: str, sweep: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"

    def fails(argv: list[str], words: str) -> None:
        assert ratings_main(argv + ["--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err, err
        assert not out.exists()

    fails(["--db", "nonsense", "--study", "s"], "malformed database URL")
    fails(["--db", sqlite_url, "--study", "s"], "does not exist")
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()
    make_study(sqlite_url, sweep)
    fails(["--db", sqlite_url, "--study", "nope"], "no study named 'nope'")
    fails(["--db", sqlite_url, "--study", "study"], "no usable votes yet")
    fails(["--db", sqlite_url, "--study", "study", "--reference", "cfg@9"], "not a condition")
    fails(["--db", sqlite_url, "--study", "study", "--bootstrap", "0"], "--bootstrap")


def test_anchor_and_bootstrap_unit_options(voted: str, tmp_path: Path, capsys) -> None:
    # a flat prior, so that the anchor moves only the level of the ratings
    base = ["--db", voted, "--study", "study", "--bootstrap", "60", "--prior-sd", "1e7"]
    out_rater = tmp_path / "rater"
    assert ratings_main(base + ["--out", str(out_rater)]) == 0
    out = tmp_path / "mean_vote"
    argv = base + ["--out", str(out), "--reference", "mean", "--bootstrap-unit", "vote"]
    assert ratings_main(argv) == 0
    printed = capsys.readouterr().out
    assert "anchor mean of the rated conditions = 0" in printed
    ratings = pd.read_csv(out / "ratings.csv")
    assert (ratings["interval_unit"] == "vote").all()
    sums = ratings.groupby(["question", "system"])["rating"].sum()
    assert np.allclose(sums, 0.0, atol=1e-6)  # the mean anchor: ratings have mean 0
    meta = json.loads((out / "ratings.json").read_text())
    assert meta["anchor"]["choice"] == "mean" and meta["anchor"]["condition"] is None
    assert meta["reference"] == "mean"  # so the recorded command line reruns as it was
    assert meta["bootstrap"]["unit"] == "vote"
    # differences do not depend on the anchor
    rater = pd.read_csv(out_rater / "ratings.csv").set_index(["question", "system", "condition"])
    mean = ratings.set_index(["question", "system", "condition"])["rating"]
    diff = (rater["rating"] - mean).groupby(level=[0, 1]).agg(np.ptp)
    assert np.allclose(diff, 0.0, atol=1e-6)
    out_cap = tmp_path / "caption"
    assert ratings_main(base + ["--out", str(out_cap), "--bootstrap-unit", "caption"]) == 0
    cap = pd.read_csv(out_cap / "ratings.csv")
    assert (cap["interval_unit"] == "caption").all() and cap["interval_units"].between(2, 6).all()


def test_help_states_units_and_anchor(capsys) -> None:
    with pytest.raises(SystemExit):
        ratings_main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in (
        "--bootstrap-unit {rater,caption,vote}",
        "bootstrap over --bootstrap-unit (default rater)",
        "bootstrap over items (comparisons), raters held fixed",
        "t(G-1)/z*sqrt(G/(G-1))",
        "--reference mean",
        "-88.6",
    ):
        assert words in text, words


def test_ratings_cli_reads_the_database_url_from_the_environment(
    voted: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    # the README's flow: export HUMAN_EVAL_DB once, then every command without --db
    out = tmp_path / "env"
    monkeypatch.setenv("HUMAN_EVAL_DB", voted)
    assert ratings_main(["--study", "study", "--out", str(out), "--bootstrap", "20"]) == 0
    assert (out / "ratings.json").is_file()
    monkeypatch.delenv("HUMAN_EVAL_DB")
    assert ratings_main(["--study", "study", "--out", str(tmp_path / "none")]) == 2
    assert "--db: no database URL; give --db URL or set HUMAN_EVAL_DB" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
