"""Fixtures for the human_eval tests: tiny run folders, SQLite and PostgreSQL databases.

Helpers live in ``he_helpers`` (a unique module name, so they never clash with another
package's conftest). PostgreSQL: one throwaway server per session, a fresh database per test;
tests that need it skip with the reason only when the server cannot start.
"""

from __future__ import annotations

import glob
import subprocess
from pathlib import Path

import pytest
from he_helpers import CONDITIONS, PostgresServer

from human_eval.fake_sweep import make_sweep


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    make_sweep(tmp_path / "sweep", CONDITIONS, n_captions=6)
    return tmp_path / "sweep"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'votes.db'}"


@pytest.fixture(scope="session")
def pg_server():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip(
            "PostgreSQL not installed (no /usr/lib/postgresql/*/bin/initdb); install "
            "Debian's postgresql package (tests/ci_services.sh does it in CI)"
        )
    server = PostgresServer(Path(found[-1]).parent)
    try:
        server.start()
    except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        server.stop()
        pytest.skip(f"could not start a throwaway PostgreSQL server: {detail}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'votes.db'}"
    return request.getfixturevalue("pg_url")
