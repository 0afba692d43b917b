"""Fixtures: a wired runtime on SQLite (and PostgreSQL where CI provides it), a movable
clock, recording channel fakes and a transcript helper that reads like the chat it checks."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from bot import crypto
from bot.config import Config
from bot.db import Database
from bot.demo import load_demo_data
from bot.models import Base
from bot.runtime import Runtime, build_runtime
from bot.services.ports import Services
from tests.fakes import FakeClock, FixedCodes, RecordingChannel, run_jobs_inline
from tests.transcript import Chat

TEST_KEY = "mKhkubjmI_6l_GpV6ayGJnqc7YtHTwkQtSuM2YCB-EA="
NOW = datetime(2027, 3, 8, 9, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Zurich
POSTGRES_URL = os.environ.get("CRMS_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("CRMS_TEST_REDIS_URL")
REQUIRE = os.environ.get("CRMS_REQUIRE_SERVICES") == "1"

crypto.configure(TEST_KEY)
# One trained NLU model for the whole run, subprocesses included.
os.environ.setdefault("CRMS_NLU_CACHE_DIR", str(Path(__file__).resolve().parent.parent
                                                / "var" / "nlu-cache"))


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """In CI (CRMS_REQUIRE_SERVICES=1) a missing PostgreSQL or Redis fails, never skips."""
    if REQUIRE and not (POSTGRES_URL and REDIS_URL):
        raise pytest.UsageError("CRMS_REQUIRE_SERVICES=1 but CRMS_TEST_POSTGRES_URL or "
                                "CRMS_TEST_REDIS_URL is unset")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrations run once)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.engine.dispose()  # closes the last connection: SQLite folds the WAL into the file
    return path


@pytest.fixture(scope="session")
def postgres_db() -> Database:
    """The CI PostgreSQL database, migrated once."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured (CRMS_TEST_POSTGRES_URL); CI runs these")
    db = Database(POSTGRES_URL)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.upgrade()
    return db


def _truncate(db: Database) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """Each database test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "crms.sqlite3"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    db = request.getfixturevalue("postgres_db")
    _truncate(db)
    return POSTGRES_URL  # type: ignore[return-value]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def channels() -> dict[str, RecordingChannel]:
    return {name: RecordingChannel(name) for name in ("whatsapp", "sms", "telegram", "staff")}


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return Config(database_url=database_url, data_key=TEST_KEY, var_dir=tmp_path / "var",
                  testing=True)


@pytest.fixture
def services(clock: FakeClock, channels: dict[str, RecordingChannel]) -> Services:
    return Services(clock=clock, codes=FixedCodes(), channels=dict(channels))


@pytest.fixture
def runtime(config: Config, services: Services) -> Runtime:
    """The wired service; jobs a turn queues (OCR, payment links) run at once, in order."""
    return run_jobs_inline(build_runtime(config, services))


@pytest.fixture
def demo(runtime: Runtime, clock: FakeClock) -> dict:
    """The two demo tenants and their bookings."""
    with runtime.db.session() as s:
        return load_demo_data(s, clock.now())


@pytest.fixture
def chat(runtime: Runtime, demo: dict):  # type: ignore[no-untyped-def]
    """chat(channel, sender, tenant='alpenrent') -> a transcript helper."""
    def make(channel: str, sender: str, tenant: str = "alpenrent") -> Chat:
        return Chat(runtime, channel, sender, tenant)
    return make
