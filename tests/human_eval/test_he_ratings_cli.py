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
from human_eval.tables import set_excluded

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


def _condition_names(store: VoteStore):
    from human_eval.tables import conditions_frame

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
    ]
    assert len(ratings) == 2 * 2 * 4  # questions x systems x conditions
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
    agreement = pd.read_csv(out / "agreement.csv")
    assert list(agreement.columns) == ["question", "statistic", "value", "n_items"]
    assert set(agreement["statistic"]) >= {"krippendorff_alpha_nominal", "fleiss_kappa"}
    raters = pd.read_csv(out / "raters.csv")
    assert list(raters.columns) == ["rater", "n_votes", "gold_accuracy", "excluded"]
    assert raters["n_votes"].tolist() == [30] * 6 and not raters["excluded"].any()
    meta = json.loads((out / "ratings.json").read_text())
    assert meta["study"] == "study" and meta["reference"] == "cfg@0"
    assert meta["counts"]["votes_total"] == 180
    assert (
        meta["counts"]["votes_used"]["photorealism"] + meta["counts"]["votes_used"]["caption"]
        == 180 - meta["counts"]["votes_gold"]
    )
    assert (
        "half a win" in meta["tie_convention"] and meta["elo"]["points_per_factor_10_odds"] == 400
    )
    assert meta["db"].split("://")[0] in ("sqlite", "postgresql+psycopg")
    assert "ratings written to" in capsys.readouterr().out


def test_excluded_raters_are_left_out(sqlite_url: str, sweep: Path, tmp_path: Path) -> None:
    make_study(sqlite_url, sweep, gold_pairs=0)
    db = open_database(sqlite_url)
    store = VoteStore(db, "study")
    _vote_by_strength(store, raters=3, per_rater=20)
    set_excluded(db, store.study, "rater0", True, "test")
    db.dispose()
    out = tmp_path / "o"
    assert (
        ratings_main(
            ["--db", sqlite_url, "--study", "study", "--out", str(out), "--bootstrap", "20"]
        )
        == 0
    )
    meta = json.loads((out / "ratings.json").read_text())
    assert sum(meta["counts"]["votes_used"].values()) == 40
    assert pd.read_csv(out / "raters.csv")["excluded"].tolist() == [True, False, False]
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
    assert (
        sum(json.loads((out2 / "ratings.json").read_text())["counts"]["votes_used"].values()) == 60
    )


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
