"""The project as a new developer meets it: README, compose file, CI script, migrations."""

import re
from pathlib import Path

import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.db import Database
from bot.models import Base
from bot.queues import QUEUES

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands():
    head = ROOT.joinpath("README.md").read_text().split("\n## ")[0]
    assert "make run" in head and "make test" in head


def test_compose_has_the_production_services_and_ci_starts_the_same_backing_ones():
    compose = yaml.safe_load(ROOT.joinpath("docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "scheduler", "postgres", "redis"} <= set(services)
    assert "granian --interface wsgi" in services["web"]["command"]  # what `serve` runs too
    assert "bot.wsgi:app" in services["web"]["command"]
    workers = [spec["command"].split() for spec in services.values()
               if spec.get("command", "").startswith("crms-bot worker")]
    assert ["crms-bot", "worker", "--queues", "crms"] in workers  # chat never waits for OCR
    taken = {queue for command in workers for queue in command[-1].split(",")}
    assert taken == set(QUEUES)  # every queue has a worker
    assert services["rasa"]["profiles"] == ["rasa"]
    backing = {name for name, spec in services.items() if "image" in spec and "build" not in spec}
    ci = ROOT.joinpath(".ci/run").read_text()
    started = {"postgres"} if "initdb" in ci else set()
    started |= {"redis"} if re.search(r"^redis-server ", ci, re.M) else set()
    assert backing - {"rasa"} == started == {"postgres", "redis"}
    assert "make test" in ci


def test_migrations_match_the_models(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/m.sqlite3")
    db.upgrade()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
