"""Test fixtures: every test runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.

The schema comes from the Alembic migrations (run once per engine per session), never create_all,
so the migrations are tested by every test. Between tests the rows are deleted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings, normalise_database_url
from ivr_gateway.db import Database
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.schema import metadata
from tests.twilio_client import TwilioClient

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
# The commands and processes the tests start are a test run: the published local secrets are
# allowed even on PostgreSQL (ivr_gateway.config.uses_local_defaults), and nowhere else.
os.environ.setdefault("IVR_GATEWAY_ENV", "test")
BACKENDS = ["sqlite", "postgresql"] if TEST_DATABASE_URL else ["sqlite"]

# 09:00 London on a winter Tuesday; tests that care about the date set their own.
DEFAULT_NOW = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (a copy is faster than migrating again)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    upgrade_database(f"sqlite:///{path}")
    return path


_pg_migrated = False
# Reference data the migrations seed (kept between tests, as on SQLite's migrated copy).
SEEDED_BY_MIGRATIONS = {"reason_codes"}


def _postgres_database() -> Database:
    global _pg_migrated
    url = normalise_database_url(TEST_DATABASE_URL)
    if not _pg_migrated:
        database = Database(url)
        with database.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        database.dispose()
        upgrade_database(url)
        _pg_migrated = True
    database = Database(url)
    tables = ", ".join(t.name for t in metadata.sorted_tables
                       if t.name not in SEEDED_BY_MIGRATIONS)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return database


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
             ) -> Iterator[Database]:
    """A migrated, empty database on each engine under test."""
    if request.param == "sqlite":
        if request.node.get_closest_marker("postgres_only"):
            pytest.skip("needs PostgreSQL")
        path = tmp_path / "test.sqlite3"
        shutil.copy(sqlite_template, path)
        database = Database(f"sqlite:///{path}")
    else:
        database = _postgres_database()
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FixedClock:
    """A clock the test moves by hand."""
    return FixedClock(DEFAULT_NOW)


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    """Local settings on the test database, with no PUBLIC_BASE_URL and a spool of its own."""
    return Settings(database_url=database.url, spool_dir=tmp_path / "spool")


@pytest.fixture
def app(settings: Settings, database: Database, clock: FixedClock) -> Flask:
    """The gateway app on the test database and the fixed clock."""
    app = create_app(settings=settings, database=database, clock=clock)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """An HTTP client for the app."""
    return app.test_client()


@pytest.fixture
def twilio(client: FlaskClient, settings: Settings) -> TwilioClient:
    """Posts webhooks signed exactly as Twilio signs them."""
    return TwilioClient(client, settings.twilio_auth_token)


@pytest.fixture
def session(database: Database) -> Iterator[Any]:
    """A session for arranging data and reading results; commit explicitly."""
    with database.sessionmaker() as session:
        yield session
