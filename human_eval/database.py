"""Opening the vote database: URL checks, engine settings, transactions, schema version.

Two back-ends. SQLite (the default; ``sqlite:///path/votes.db``) runs in WAL mode with
``synchronous=FULL`` so a committed vote survives a crash, and every write transaction starts
with ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy timeout instead of failing.
PostgreSQL (``postgresql+psycopg://user:pass@host:port/db``) is for studies with many concurrent
raters. Nothing touches the disk or the server until the URL has been checked. A SQLite file is
created readable and writable by its owner only (its -wal and -shm files inherit that), since it
holds the votes and the hashes of every token.

Every command takes the URL from ``--db`` or, when that is not given, from the environment
variable ``HUMAN_EVAL_DB`` (so a PostgreSQL password need not appear on a command line).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import stat
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, OperationalError

from human_eval import migrations, schema
from human_eval.errors import HumanEvalError

ENV_DB = "HUMAN_EVAL_DB"
URL_HELP = (
    "use sqlite:///relative/votes.db, sqlite:////absolute/votes.db or "
    "postgresql+psycopg://user:password@host:5432/dbname"
)
_BUSY_TIMEOUT_S = 60.0


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def parse_db_url(text: str) -> URL:
    """Check a database URL without connecting; returns the normalised URL.

    ``postgresql://`` and ``postgres://`` mean the psycopg 3 driver. Raises HumanEvalError for
    anything that is not a SQLite file or a PostgreSQL URL.
    """
    if not isinstance(text, str) or not text.strip():
        raise HumanEvalError(f"--db: empty database URL {text!r}; {URL_HELP}")
    try:
        url = sa.make_url(text.strip())
    except ArgumentError:
        raise HumanEvalError(f"--db: malformed database URL {text!r}; {URL_HELP}") from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise HumanEvalError(f"--db: SQLite driver {driver!r} in {text!r}; {URL_HELP}")
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise HumanEvalError(
                f"--db: {text!r} names no database file (in-memory databases cannot be shared "
                f"between raters); {URL_HELP}"
            )
        if url.host or url.username:
            raise HumanEvalError(f"--db: a SQLite URL has no host or user: {text!r}; {URL_HELP}")
        return url.set(drivername="sqlite")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise HumanEvalError(
                f"--db: PostgreSQL driver {driver!r} in {text!r} is not supported; use "
                "postgresql+psycopg:// (psycopg 3)"
            )
        if not url.database:
            raise HumanEvalError(f"--db: {text!r} names no database; {URL_HELP}")
        return url.set(drivername="postgresql+psycopg")
    raise HumanEvalError(f"--db: unsupported database {url.drivername!r} in {text!r}; {URL_HELP}")


def db_url_from(value: str | None) -> str:
    """The database URL from ``--db``, else from the environment variable HUMAN_EVAL_DB."""
    if value:
        return value
    env = os.environ.get(ENV_DB, "").strip()
    if env:
        return env
    raise HumanEvalError(f"--db: no database URL; give --db URL or set {ENV_DB}; {URL_HELP}")


def describe_url(url: URL) -> str:
    """The URL with any password hidden (for logs, metadata and messages)."""
    return url.render_as_string(hide_password=True)


@dataclass
class Database:
    """An engine plus the helpers every part of human_eval uses to talk to it."""

    engine: Engine
    url: URL
    # SQLite has one writer at a time: queue this process's writers on a lock instead of letting
    # them spin in SQLite's busy handler (other processes still wait on the busy timeout).
    _write_lock: threading.Lock | None = None
    # files made owner-only when opened with create or migrate (SQLite)
    tightened: list[str] | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def display_url(self) -> str:
        return describe_url(self.url)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success."""
        lock = self._write_lock if self._write_lock is not None else contextlib.nullcontext()
        with lock, self.engine.connect().execution_options(human_eval_write=True) as conn:
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (rolled back at the end)."""
        with self.engine.connect() as conn:
            with conn.begin() as txn:
                yield conn
                txn.rollback()

    @contextlib.contextmanager
    def migration(self) -> Iterator[Connection]:
        """A write transaction for schema upgrades. On SQLite, foreign-key enforcement is off on
        its connection (tables are rebuilt) and every foreign key is checked before commit."""
        lock = self._write_lock if self._write_lock is not None else contextlib.nullcontext()
        with lock, self.engine.connect().execution_options(human_eval_write=True) as conn:
            if self.is_sqlite:
                # must run outside a transaction to take effect; secure_delete zeroes the pages
                # of the rebuilt tables, which held keys and tokens in plain text
                conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
                conn.connection.driver_connection.execute("PRAGMA secure_delete = ON")
            try:
                with conn.begin():
                    yield conn
                    if self.is_sqlite:
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
            finally:
                if self.is_sqlite:
                    conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")
                    conn.connection.driver_connection.execute("PRAGMA secure_delete = OFF")

    def scrub(self) -> None:
        """After a migration that replaced plain-text secrets: rewrite the storage so no old
        copy of them survives (SQLite: VACUUM and a truncating WAL checkpoint; PostgreSQL:
        VACUUM FULL of the tables that held them)."""
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            if self.is_sqlite:
                raw.execute("VACUUM")
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                raw.rollback()
                raw.autocommit = True
                try:
                    raw.execute("VACUUM FULL raters, invites")
                finally:
                    raw.autocommit = False

    def dispose(self) -> None:
        self.engine.dispose()


def _create_private_file(path: Path) -> None:
    """Create an empty file that only its owner may read or write (no-op if it exists)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def tighten_permissions(url: URL) -> list[str]:
    """Make an existing SQLite database (and its -wal/-shm files) owner-only; returns the files
    whose permissions changed. Nothing to do for PostgreSQL."""
    if url.get_backend_name() != "sqlite":
        return []
    changed = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(url.database + suffix)
        if not path.is_file():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
            changed.append(str(path))
    return changed


def _sqlite_engine(url: URL) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"timeout": _BUSY_TIMEOUT_S, "check_same_thread": False},
        pool_size=10,
        max_overflow=40,
        pool_timeout=120,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred only).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("human_eval_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def open_database(text: str, *, create: bool = False, migrate: bool = False) -> Database:
    """Open (and with ``create=True`` create) the database at URL ``text``.

    Without ``create`` a SQLite file must already exist, so a mistyped path never leaves an
    empty database behind. The schema is created (``create``) or upgraded (``migrate``) as asked;
    otherwise it must already be at ``schema.SCHEMA_VERSION``.
    """
    url = parse_db_url(text)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database)
        if not path.parent.is_dir():
            raise HumanEvalError(
                f"--db: folder {str(path.parent)!r} of database {text!r} does not exist; create "
                "it first"
            )
        if not create and not path.is_file():
            raise HumanEvalError(
                f"--db: database file {str(path)!r} does not exist; create a study first with "
                "`python -m human_eval.study create --db URL --name NAME RUN_FOLDER...`"
            )
        if create:
            _create_private_file(path)
        engine = _sqlite_engine(url)
    else:
        engine = sa.create_engine(
            url, pool_size=10, max_overflow=40, pool_timeout=120, pool_pre_ping=True
        )
    db = Database(engine=engine, url=url)
    if db.is_sqlite:
        db._write_lock = threading.Lock()
    try:
        _prepare_schema(db, create=create, migrate=migrate)
    except OperationalError as exc:
        db.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise HumanEvalError(
            f"--db: cannot open database {db.display_url!r}: {reason}; check the URL, that the "
            "server is running and that the user may connect"
        ) from None
    except HumanEvalError:
        db.dispose()
        raise
    if create or migrate:
        db.tightened = tighten_permissions(url)
    return db


def _prepare_schema(db: Database, *, create: bool, migrate: bool) -> None:
    with db.read() as conn:
        state = migrations.read_state(conn)
    head = migrations.head_revision()
    if state.empty:
        if not create:
            raise HumanEvalError(
                f"--db: database {db.display_url!r} holds no human_eval schema; create a study "
                "first with `python -m human_eval.study create --db URL ...`"
            )
        with db.write() as conn:
            if migrations.read_state(conn).empty:  # another process may have created it
                schema.metadata.create_all(conn)
                migrations.stamp_new(conn)
        return
    if state.revision == head:
        return
    known = migrations.known_revisions()
    if state.revision not in known:
        raise HumanEvalError(
            f"--db: database {db.display_url!r} has schema revision {state.revision!r} "
            f"(legacy version {state.legacy_version}), newer than this glide-bench ({head}); "
            "upgrade glide-bench"
        )
    if not (create or migrate):
        raise HumanEvalError(
            f"--db: database {db.display_url!r} has schema revision {state.revision}; this "
            f"glide-bench needs {head}: back the database up, then run "
            "`python -m human_eval.study migrate --db URL`"
        )
    with db.migration() as conn:
        applied = []
        if migrations.read_state(conn).revision != head:  # or another process did it
            applied = migrations.upgrade(conn)
    if "0002" in applied:  # rater keys and invite tokens were in plain text before it
        try:
            db.scrub()
        except Exception as exc:  # noqa: BLE001 - the migration itself is committed
            warnings.warn(
                f"schema migrated, but old copies of plain-text tokens may remain in the "
                f"database's free space ({type(exc).__name__}: {exc}); run VACUUM (SQLite) or "
                "VACUUM FULL raters, invites (PostgreSQL, as the tables' owner)",
                stacklevel=2,
            )
