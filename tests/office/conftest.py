"""Office test fixtures: users of each role (hashes cached), and a logged-in client with CSRF."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import sync_playwright
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from ivr_gateway.config import PROJECT_ROOT
from ivr_gateway.db import Database
from ivr_gateway.models import AuditEntry
from ivr_gateway.office.auth import hash_password
from ivr_gateway.office.models import OfficeRole, OfficeUser
from ivr_gateway.visits.models import ReasonCode
from tests.office.browser import CHROMIUM

PASSWORD = "correct horse battery"
_hashes: dict[str, str] = {}


def make_office_user(session: Session, username: str, role: OfficeRole,
                     password: str = PASSWORD) -> OfficeUser:
    """An active office user (argon2 hashes are cached: the default cost is deliberate)."""
    if password not in _hashes:
        _hashes[password] = hash_password(password)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    user = OfficeUser(username=username, display_name=username.title(),
                      password_hash=_hashes[password], role=role, active=True, failed_logins=0,
                      session_epoch=0, created_at=at, updated_at=at)
    session.add(user)
    session.commit()
    return user


def stored_office_user(database: Database, username: str) -> OfficeUser:
    """The office user as stored now (detached, for reading)."""
    with database.unit_of_work() as session:
        user = session.scalars(select(OfficeUser).where(OfficeUser.username == username)).one()
        session.expunge(user)
        return user


def office_user_audit(database: Database, username: str
                      ) -> list[tuple[str, str, dict[str, object]]]:
    """(action, actor, detail) of the audit entries about one office user, oldest first."""
    with database.unit_of_work() as session:
        return [(a.action, a.actor, a.detail) for a in session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "office_user",
                                     AuditEntry.entity_ref == username).order_by(AuditEntry.id))]

def _migration_seed() -> list[tuple[str, str, str]]:
    path = PROJECT_ROOT / "migrations" / "versions" / "0005_office.py"
    spec = importlib.util.spec_from_file_location("office_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.SEED_REASON_CODES)


@pytest.fixture(autouse=True)
def reason_codes(database: Database) -> None:
    """The migration's reason codes (PostgreSQL tests truncate every table between tests)."""
    with database.unit_of_work() as session:
        if session.query(ReasonCode).count() == 0:
            session.add_all(ReasonCode(code=code, label=label, applies_to=applies_to,
                                       position=i, active=True)
                            for i, (code, label, applies_to) in enumerate(_migration_seed(), 1))


class Office:
    """A browser-like client of /office/: logs in through the form and sends CSRF tokens."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf(self) -> str:
        """The session's CSRF token, as a form on the page carries it."""
        page = self.client.get("/office/login").get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, "the login page has no CSRF field"
        return match.group(1)

    def login(self, username: str, password: str = PASSWORD) -> TestResponse:
        """Post the login form."""
        return self.client.post("/office/login", data={
            "username": username, "password": password, "csrf_token": self.csrf()})

    def token(self) -> str:
        """The CSRF token of the logged-in session."""
        with self.client.session_transaction() as flask_session:
            return str(flask_session["csrf_token"])

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any
             ) -> TestResponse:
        """POST a form with the session's CSRF token."""
        return self.client.post(path, data={**(data or {}), "csrf_token": self.token()},
                                **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        """GET a page."""
        return self.client.get(path, **kwargs)


def office_from(app: Flask, address: str) -> Office:
    """A browser at another network address (login throttling counts per address)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return Office(client)


def lock_by_guessing(app: Flask, username: str) -> None:
    """Five wrong passwords from three addresses: what locks a login (login_throttle)."""
    for n in range(5):
        office_from(app, f"198.51.100.{n % 3 + 1}").login(username, "wrong password!")


@pytest.fixture
def office(app: Flask) -> Office:
    """An office client, not logged in."""
    return Office(app.test_client())


@pytest.fixture
def coordinator(session: Session) -> OfficeUser:
    """A coordinator called 'cora'."""
    return make_office_user(session, "cora", OfficeRole.COORDINATOR)


@pytest.fixture
def manager(session: Session) -> OfficeUser:
    """A manager called 'max'."""
    return make_office_user(session, "max", OfficeRole.MANAGER)


@pytest.fixture
def administrator(session: Session) -> OfficeUser:
    """An administrator called 'ada'."""
    return make_office_user(session, "ada", OfficeRole.ADMINISTRATOR)


@pytest.fixture
def as_coordinator(office: Office, coordinator: OfficeUser) -> Office:
    """Logged in as a coordinator."""
    assert office.login("cora").status_code == 302
    return office


@pytest.fixture
def as_manager(office: Office, manager: OfficeUser) -> Office:
    """Logged in as a manager."""
    assert office.login("max").status_code == 302
    return office


@pytest.fixture
def as_administrator(office: Office, administrator: OfficeUser) -> Office:
    """Logged in as an administrator."""
    assert office.login("ada").status_code == 302
    return office


@pytest.fixture
def browser(database: Database) -> Iterator[Any]:
    """A headless Debian chromium for the browser tests (tests/office/browser.py); SQLite only."""
    if database.engine.dialect.name != "sqlite":
        pytest.skip("browser tests run on SQLite only")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            yield chromium
        finally:
            chromium.close()
