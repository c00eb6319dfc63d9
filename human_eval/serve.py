"""``python -m human_eval.serve --db URL``: run the rating app (a wrapper around
``streamlit run human_eval/app.py -- --db URL``).

The URL is checked and the database opened once before Streamlit starts, so a typo fails here
with a clear message rather than on the first page view. Raters open
``http://HOST:PORT/?study=NAME`` (``&invite=TOKEN`` for invite links); the admin view is
``?study=NAME&page=admin``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from human_eval.database import open_database
from human_eval.errors import HumanEvalError

APP = Path(__file__).resolve().parent / "app.py"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m human_eval.serve",
        description="Run the rating app: streamlit run human_eval/app.py -- --db URL, after "
        "checking the database.",
    )
    p.add_argument(
        "--db",
        required=True,
        help="database URL holding the study (sqlite:///votes.db "
        "or postgresql+psycopg://user:pw@host:5432/db)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 to let other machines in)",
    )
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the database and print the command without starting the server",
    )
    return p


def streamlit_command(db: str, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--db",
        db,
    ]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not 0 < args.port < 65536:
            raise HumanEvalError(f"--port: {args.port}; give a port between 1 and 65535")
        open_database(args.db).dispose()
    except HumanEvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cmd = streamlit_command(args.db, args.host, args.port)
    print(" ".join(cmd[2:]), flush=True)
    if args.dry_run:
        return 0
    env = dict(os.environ)
    root = str(APP.parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
