"""Database engine and sessions, bound late by the app factory."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    ColumnElement,
    Connection,
    Engine,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.visitors import InternalTraversal

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Database:
    """One engine and session factory per app."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = _make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time; threads that collide sleep in its busy handler
        # (up to 100 ms a try). Taking turns in-process is much faster than colliding.
        self._turns = threading.RLock() if self.engine.dialect.name == "sqlite" else None
        self._autocommit: tuple[Engine, Engine] | None = None  # built for the engine in use

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL (row locks with SKIP LOCKED are available)."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: commit on success, roll back on error."""
        with self._turn(), self.sessionmaker() as session, session.begin():
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A Core connection in a transaction, no ORM session: the hot path's plain statements."""
        with self._turn(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A Core connection whose statements each commit by themselves (PostgreSQL).

        No BEGIN and COMMIT round trips around a single INSERT; a transaction on SQLite.
        """
        if self.engine.dialect.name == "sqlite":
            with self.transaction() as conn:
                yield conn
            return
        if self._autocommit is None or self._autocommit[0] is not self.engine:
            # a pool of its own: no switching a pooled connection in and out of autocommit
            self._autocommit = (self.engine, _make_engine(
                self.engine.url.render_as_string(hide_password=False), autocommit=True))
        with self._autocommit[1].connect() as conn:
            yield conn

    def _turn(self) -> AbstractContextManager[Any]:
        """SQLite's in-process writer turn; nothing to wait for on PostgreSQL."""
        return self._turns if self._turns is not None else nullcontext()

    def upgrade(self) -> None:
        """Run Alembic migrations up to head."""
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["engine"] = self.engine
        command.upgrade(cfg, "head")


def _make_engine(url: str, autocommit: bool = False) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    # No ping per checkout (a round trip per transaction on the hot path): a connection the
    # server dropped fails its statement once and the pool then replaces all of them.
    if autocommit:  # the webhooks' single INSERTs
        return create_engine(url, pool_recycle=1800, pool_size=4, max_overflow=12,
                             isolation_level="AUTOCOMMIT")
    return create_engine(url, pool_recycle=1800, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the web thread read while the worker writes; FKs are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across app crashes, no fsync per commit
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class among(ColumnElement[bool]):  # noqa: N801 - used like SQLAlchemy's own `in_`
    """`column IN :name`, the list bound at execution.

    On PostgreSQL `column = ANY(:name)`: one array parameter, so the statement's text is the
    same whatever the list's length, and is prepared and planned once per connection (an IN
    list of each new length is planned anew: more than running the batch's queries).
    """

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition as it stands (no "= 1" added on SQLite)
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("name", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


@compiles(among)
def _among_in(element: among, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)  # type: ignore[no-any-return]


@compiles(among, "postgresql")
def _among_any(element: among, compiler: Any, **kw: Any) -> str:
    array = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(array), **kw)  # type: ignore[no-any-return]
