"""An app whose database cannot be reached, beside the real test database to replay into."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from tests.live_server import free_port
from tests.twilio_client import TwilioClient


@pytest.fixture
def unreachable_database(database: Database, tmp_path: Path) -> Database:
    """The same engine as the test database, at an address where nothing answers: a port
    nobody listens on (PostgreSQL), a file in a folder that does not exist (SQLite)."""
    if database.is_sqlite:
        return Database(f"sqlite:///{tmp_path / 'no-such-folder' / 'gateway.sqlite3'}")
    return Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gateway")


@pytest.fixture
def down_app(settings: Settings, unreachable_database: Database, clock: FixedClock) -> Flask:
    """The gateway with its database down, spooling to the test's spool folder."""
    app = create_app(settings=settings, database=unreachable_database, clock=clock)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def down(down_app: Flask, settings: Settings) -> TwilioClient:
    """Signed webhooks to the gateway whose database is down."""
    return TwilioClient(down_app.test_client(), settings.twilio_auth_token)
