"""``python -m human_eval.study``: create and manage studies.

Subcommands: ``create`` (a study from run or sweep folders), ``list``, ``invite`` (more invite
tokens), ``configure`` (change a study's settings: flagging rule, overlaps, public), ``exclude`` /
``include`` (a rater), ``export`` (all votes as CSV or Parquet) and ``migrate`` (upgrade an older
database schema in place). ``--db`` defaults to the environment variable HUMAN_EVAL_DB.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from glide.io import atomic_path
from human_eval import schema
from human_eval.create import (
    STRATEGIES,
    StudyConfig,
    add_invites,
    check_create_args,
    create_study,
    invite_link,
    plan_study,
)
from human_eval.database import (
    ENV_DB,
    db_url_from,
    open_database,
    parse_db_url,
)
from human_eval.errors import HumanEvalError
from human_eval.store import flagging_rule, list_studies, load_study
from human_eval.study_conditions import load_conditions
from human_eval.tokens import invite_rater_name
from human_eval.vote_tables import set_excluded, votes_frame

_DEFAULTS = StudyConfig()


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        default=None,
        help="database URL: sqlite:///votes.db (a file, created by `create` if missing, "
        "readable by its owner only) or postgresql+psycopg://user:pw@host:5432/db (default: "
        f"the environment variable {ENV_DB}, which keeps a password off the command line)",
    )


def _rate_args(p: argparse.ArgumentParser, defaults: StudyConfig | None) -> None:
    """Settings that ``create`` sets and ``configure`` changes (None: keep the current value)."""

    def default(name: str):  # noqa: ANN202
        return None if defaults is None else getattr(defaults, name)

    def said(name: str) -> str:
        return "" if defaults is None else f" (default {getattr(defaults, name)})"

    p.add_argument(
        "--gold-min-answered",
        type=int,
        default=default("gold_min_answered"),
        help="flagging rule: gold pairs a rater must answer before being judged"
        + said("gold_min_answered"),
    )
    p.add_argument(
        "--gold-min-accuracy",
        type=float,
        default=default("gold_min_accuracy"),
        help="flagging rule: raters below this gold-pair accuracy are flagged, and left out of "
        "the ratings by default" + said("gold_min_accuracy"),
    )
    p.add_argument(
        "--overlap-rate",
        type=float,
        default=default("overlap_rate"),
        help="share of each rater's votes on items other raters have judged (inter-rater "
        "agreement)" + said("overlap_rate"),
    )
    p.add_argument(
        "--repeat-rate",
        type=float,
        default=default("repeat_rate"),
        help="share of each rater's votes that repeat their own earlier items, sides swapped "
        "(intra-rater consistency)" + said("repeat_rate"),
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m human_eval.study",
        description="Create and manage pairwise human-evaluation studies in a vote database.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("create", help="create a study from run folders (or sweep folders)")
    _db_arg(c)
    c.add_argument("--name", required=True, help="study name (unique in the database)")
    c.add_argument(
        "runs",
        nargs="+",
        help="run folders (spec.json + manifest.jsonl + images) "
        "or sweep folders holding runs/<run_id>/; each is one condition",
    )
    c.add_argument(
        "--questions",
        nargs="+",
        default=list(_DEFAULTS.questions),
        choices=schema.QUESTIONS,
        help="questions to ask (default: both)",
    )
    c.add_argument(
        "--max-captions",
        type=int,
        default=_DEFAULTS.max_captions,
        help="caption slots per condition pair (a seeded random subset of those all "
        f"runs share; default {_DEFAULTS.max_captions})",
    )
    c.add_argument(
        "--votes-per-rater",
        type=int,
        default=_DEFAULTS.votes_per_rater,
        help=f"votes asked of each rater (default {_DEFAULTS.votes_per_rater})",
    )
    c.add_argument(
        "--gold-pairs",
        type=int,
        default=_DEFAULTS.gold_pairs,
        help="gold pairs (clean vs noised image); 0 disables quality control "
        f"(default {_DEFAULTS.gold_pairs})",
    )
    c.add_argument(
        "--gold-rate",
        type=float,
        default=_DEFAULTS.gold_rate,
        help=f"chance that a task is a gold pair (default {_DEFAULTS.gold_rate})",
    )
    c.add_argument(
        "--gold-noise",
        type=float,
        default=_DEFAULTS.gold_noise,
        help=f"noise strength of gold images in (0, 1] (default {_DEFAULTS.gold_noise})",
    )
    _rate_args(c, _DEFAULTS)
    c.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=_DEFAULTS.strategy,
        help="pair scheduling: fewest = least-shown condition pair first; uncertain = "
        "pair with the least predictable outcome per vote so far (default fewest)",
    )
    c.add_argument(
        "--invite-only",
        action="store_true",
        help="raters join only with an invite token (not by name)",
    )
    c.add_argument(
        "--public",
        action="store_true",
        help="list the study on the app's bare address (otherwise raters need its link)",
    )
    c.add_argument("--invites", type=int, default=0, help="invite tokens to create (default 0)")
    c.add_argument(
        "--reference",
        default=None,
        help="condition rated 0 (default: the unguided model, cfg@1 or clip@0, else the lowest "
        "guidance scale)",
    )
    c.add_argument(
        "--admin-token",
        default=None,
        help="admin token (default: a random one, printed once; only its hash is stored)",
    )
    c.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of caption choice, gold pairs and left/right order (default 0)",
    )

    ls = sub.add_parser("list", help="list the studies in a database")
    _db_arg(ls)

    inv = sub.add_parser("invite", help="create more invite tokens")
    _db_arg(inv)
    inv.add_argument("--study", required=True, help="study name")
    inv.add_argument("--n", type=int, default=1, help="number of tokens (default 1)")

    cf = sub.add_parser(
        "configure",
        help="change a study's settings (flagging rule, overlaps, repeats, votes per rater, "
        "public); a running app picks them up within 30 s",
    )
    _db_arg(cf)
    cf.add_argument("--study", required=True, help="study name")
    _rate_args(cf, None)
    cf.add_argument("--votes-per-rater", type=int, default=None, help="votes asked of each rater")
    cf.add_argument(
        "--public",
        choices=("yes", "no"),
        default=None,
        help="yes: list the study on the app's bare address; no: reachable by its link only",
    )

    for name, text in (
        ("exclude", "exclude a rater from the ratings"),
        ("include", "include an excluded rater again"),
    ):
        e = sub.add_parser(name, help=text)
        _db_arg(e)
        e.add_argument("--study", required=True, help="study name")
        e.add_argument(
            "--rater", required=True, help="rater name (upper/lower case and spaces ignored)"
        )
        if name == "exclude":
            e.add_argument("--reason", default="", help="why (shown on the admin page)")

    ex = sub.add_parser("export", help="export every vote (CSV or Parquet, by file extension)")
    _db_arg(ex)
    ex.add_argument("--study", required=True, help="study name")
    ex.add_argument("--out", required=True, help="output file ending in .csv or .parquet")

    mig = sub.add_parser(
        "migrate",
        help="upgrade the database schema in place, votes kept (back it up first); also makes "
        "a SQLite file readable by its owner only",
    )
    _db_arg(mig)
    return p


def _create(args: argparse.Namespace) -> int:
    args.db = db_url_from(args.db)
    parse_db_url(args.db)  # a bad URL fails before anything is read or written
    config = StudyConfig(
        questions=tuple(args.questions),
        max_captions=args.max_captions,
        votes_per_rater=args.votes_per_rater,
        gold_pairs=args.gold_pairs,
        gold_rate=args.gold_rate if args.gold_pairs > 0 else 0.0,
        gold_noise=args.gold_noise,
        gold_min_answered=args.gold_min_answered,
        gold_min_accuracy=args.gold_min_accuracy,
        strategy=args.strategy,
        allow_named_join=not args.invite_only,
        seed=args.seed,
        overlap_rate=args.overlap_rate,
        repeat_rate=args.repeat_rate,
        public=args.public,
    )
    check_create_args(args.name, args.admin_token, args.invites)
    plan = plan_study(load_conditions(args.runs), config, args.reference)
    db = open_database(args.db, create=True)  # only now, with everything checked
    try:
        made = create_study(db, args.name, plan, admin_token=args.admin_token, invites=args.invites)
    finally:
        db.dispose()
    print(
        f"created study {made.name!r}: {made.n_conditions} conditions "
        f"({', '.join(made.conditions)}), {made.n_comparisons} comparisons, "
        f"{made.n_gold} gold pairs; reference {made.reference!r}"
    )
    print(f"admin token (shown once, keep it): {made.admin_token}")
    _print_invites(made.name, made.invite_tokens)
    print(
        f"{flagging_rule(config)}; overlap rate {config.overlap_rate}, repeat rate "
        f"{config.repeat_rate}"
    )
    print(
        "serve it: python -m human_eval.serve --db URL (or set HUMAN_EVAL_DB); admin page: "
        f"{_admin_link(made.name)}"
    )
    return 0


def _print_invites(study: str, tokens: list[str]) -> None:
    """Each invite link once (only hashes are stored) with the rater name it will get."""
    for token in tokens:
        print(f"invite: {invite_link(study, token)}  (rater name {invite_rater_name(token)})")


def _admin_link(study: str) -> str:
    from urllib.parse import urlencode

    return "?" + urlencode({"study": study, "page": "admin"})


def _configure(db, args: argparse.Namespace) -> None:  # noqa: ANN001
    import sqlalchemy as sa

    study = load_study(db, args.study)
    changes = {
        name: getattr(args, name)
        for name in (
            "gold_min_answered",
            "gold_min_accuracy",
            "overlap_rate",
            "repeat_rate",
            "votes_per_rater",
        )
        if getattr(args, name) is not None
    }
    if args.public is not None:
        changes["public"] = args.public == "yes"
    if not changes:
        raise HumanEvalError("configure: give at least one setting to change (see --help)")
    config = dataclasses.replace(study.config, **changes)  # checked by StudyConfig
    with db.write() as conn:
        conn.execute(
            sa.update(schema.studies)
            .where(schema.studies.c.id == study.id)
            .values(config=config.to_json())
        )
    for name, value in changes.items():
        print(f"{name}: {getattr(study.config, name)} -> {value}")
    print(flagging_rule(config))


def _export(args: argparse.Namespace) -> int:
    args.db = db_url_from(args.db)
    out = Path(args.out)
    if out.suffix not in (".csv", ".parquet"):
        raise HumanEvalError(f"--out: {args.out!r}; end the file name in .csv or .parquet")
    if not out.parent.is_dir():
        raise HumanEvalError(f"--out: folder {str(out.parent)!r} does not exist")
    db = open_database(args.db)
    try:
        df = votes_frame(db, load_study(db, args.study))
    finally:
        db.dispose()
    with atomic_path(out) as tmp:
        if out.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
    print(f"{len(df)} votes written to {out}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command == "create":
        return _create(args)
    if args.command == "export":
        return _export(args)
    args.db = db_url_from(args.db)
    db = open_database(args.db, migrate=args.command == "migrate")
    try:
        if args.command == "list":
            public = set(list_studies(db, public_only=True))
            for name in list_studies(db):
                print(name + ("  (public)" if name in public else ""))
        elif args.command == "migrate":
            print(f"schema of {db.display_url} is at revision {schema.ALEMBIC_HEAD}")
            for path in db.tightened or []:
                print(f"{path}: now readable and writable by its owner only")
        elif args.command == "configure":
            _configure(db, args)
        elif args.command == "invite":
            study = load_study(db, args.study)
            _print_invites(study.name, add_invites(db, study.id, args.n))
        elif args.command in ("exclude", "include"):
            study = load_study(db, args.study)
            set_excluded(
                db, study, args.rater, args.command == "exclude", getattr(args, "reason", "")
            )
            print(f"rater {args.rater!r} {args.command}d")
    finally:
        db.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except HumanEvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
