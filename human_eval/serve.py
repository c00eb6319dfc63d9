"""``python -m human_eval.serve``: run the rating app (``streamlit run human_eval/app.py``) with
the settings a study in front of strangers needs.

The URL is checked and the database opened once before Streamlit starts, so a typo fails here
with a clear message rather than on the first page view. It comes from ``--db`` or the
environment variable ``HUMAN_EVAL_DB`` and reaches the app through that environment variable
only, never on Streamlit's command line (which other users of the machine can read).

Raters open ``http://HOST:PORT/?study=NAME`` (``&invite=TOKEN`` for invite links); the admin
view is ``?study=NAME&page=admin`` (no link leads there). Streamlit runs headless with its
developer chrome off (toolbar, deploy button, main menu, error details), uploads capped at
1 MB (the app takes none), XSRF protection and CORS on, no file watcher. For raters on other
machines put a reverse proxy with TLS in front (see the README) and keep ``--host 127.0.0.1``,
or bind ``--host 0.0.0.0`` on a trusted network.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from human_eval.database import ENV_DB, db_url_from, open_database
from human_eval.errors import HumanEvalError

APP = Path(__file__).resolve().parent / "app.py"

# Streamlit settings of the served app (server-side; the app also hides the chrome itself).
STREAMLIT_SETTINGS = {
    "server.headless": "true",
    "server.enableXsrfProtection": "true",
    "server.enableCORS": "true",
    "server.maxUploadSize": "1",
    "server.fileWatcherType": "none",
    "server.runOnSave": "false",
    "client.toolbarMode": "minimal",
    "client.showErrorDetails": "none",
    "client.showSidebarNavigation": "false",
    "ui.hideTopBar": "true",
    "browser.gatherUsageStats": "false",
    "global.developmentMode": "false",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m human_eval.serve",
        description="Run the rating app: streamlit run human_eval/app.py, after checking the "
        "database, with the settings a public study needs.",
    )
    p.add_argument(
        "--db",
        default=None,
        help="database URL holding the study (sqlite:///votes.db or "
        f"postgresql+psycopg://user:pw@host:5432/db); default: the environment variable {ENV_DB}, "
        "which keeps a password off every command line",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: only this machine, or a reverse proxy "
        "on it; 0.0.0.0 lets other machines in directly, without TLS)",
    )
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    p.add_argument(
        "--base-url-path",
        default="",
        help="serve under this path, e.g. 'rate' for https://example.org/rate/ behind a proxy",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the database and print the command without starting the server",
    )
    return p


def streamlit_command(host: str, port: int, base_url_path: str = "") -> list[str]:
    """The command line (no database URL on it: that goes in the environment)."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP)]
    settings = dict(STREAMLIT_SETTINGS)
    settings.update({"server.address": host, "server.port": str(port)})
    if base_url_path:
        settings["server.baseUrlPath"] = base_url_path.strip("/")
    for key, value in settings.items():
        cmd += [f"--{key}", value]
    return cmd


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not 0 < args.port < 65536:
            raise HumanEvalError(f"--port: {args.port}; give a port between 1 and 65535")
        url = db_url_from(args.db)
        open_database(url).dispose()
    except HumanEvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cmd = streamlit_command(args.host, args.port, args.base_url_path)
    print(" ".join(cmd[2:]) + f"   ({ENV_DB} holds the database URL)", flush=True)
    if args.dry_run:
        return 0
    env = dict(os.environ)
    env[ENV_DB] = url
    root = str(APP.parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
