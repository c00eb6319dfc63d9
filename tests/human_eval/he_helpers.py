"""Helpers for the human_eval tests: tiny studies, free ports, a throwaway PostgreSQL server.

PostgreSQL: a throwaway server is started once per session from Debian's binaries
(/usr/lib/postgresql/*/bin) on a free loopback port, with its data in a temporary folder
(initdb run as the ``postgres`` system user when the tests run as root). Each test gets a fresh
database on it. Tests that need it skip, saying why, only when the server cannot start.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from human_eval.create import StudyConfig, create_study
from human_eval.database import open_database
from human_eval.study_conditions import load_conditions

CONDITIONS = [("cfg", 0.0), ("cfg", 3.0), ("clip", 1.0), ("clip", 2.0)]
ADMIN_TOKEN = "test-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_study(url: str, sweep: Path, name: str = "study", invites: int = 2, **config):
    """Create a study over ``sweep`` in the database at ``url``; returns what was created."""
    db = open_database(url, create=True)
    try:
        return create_study(
            db,
            name,
            load_conditions([sweep]),
            StudyConfig(**config),
            admin_token=ADMIN_TOKEN,
            invites=invites,
        )
    finally:
        db.dispose()


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.base = Path(tempfile.mkdtemp(prefix="he-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.run_as: list[str] = []
        self.log = self.base / "server.log"

    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "postgres"],
                check=True,
                capture_output=True,
            )
        user = pwd.getpwnam("postgres")
        os.chown(self.base, user.pw_uid, user.pw_gid)
        self.run_as = ["runuser", "-u", "postgres", "--"]

    def start(self) -> None:
        self._prepare_user()
        subprocess.run(
            self.run_as
            + [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                self.run_as
                + [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.base),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=200",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.admin_dsn, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(self.log.read_text()[-2000:]) from None
                time.sleep(0.2)

    @property
    def admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def new_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # immediate shutdown: a throwaway server needs no checkpoint, nor to wait for clients
            subprocess.run(
                self.run_as
                + [
                    str(self.bin_dir / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                ],
                capture_output=True,
                timeout=60,
            )
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.base, ignore_errors=True)


# Markdown / HTML that must never become a link or an element anywhere in the app.
PAYLOAD = (
    "[Log in](https://evil.example) <b id='inj'>b</b><img src=x id='ii'>"
    " www.evil.example :red[r] **q7**"
)
assert len(PAYLOAD) <= 100  # fits a rater name


def make_payload_sweep(out: Path, n_captions: int = 4) -> Path:
    """A sweep over CONDITIONS whose captions are all PAYLOAD (numbered)."""
    from human_eval.fake_sweep import make_run_folder

    captions = [f"{PAYLOAD} {i}" for i in range(n_captions)]
    for k, (method, scale) in enumerate(CONDITIONS):
        make_run_folder(out / "runs" / f"run{k}", method, scale, captions, size=8)
    return out
