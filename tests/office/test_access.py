"""Who may open what: no page without a login, roles, CSRF on every form, lockout, sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr_gateway.api.models import ApiToken
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.models import AuditEntry
from ivr_gateway.office.auth import verify_password
from ivr_gateway.office.models import OfficeRole, OfficeUser
from ivr_gateway.visits.models import VisitReasonCode
from tests.conftest import DEFAULT_NOW
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.office.conftest import PASSWORD, Office, make_office_user, office_from

PAGES = ["/office/", "/office/visits/V1", "/office/alerts",
         "/office/reasons", "/office/adults", "/office/adults/A1", "/office/care-workers",
         "/office/care-workers/C1", "/office/on-call", "/office/kpi", "/office/rota",
         "/office/api-tokens", "/office/unplanned/1", "/office/users", "/office/users/cora"]
FORMS = ["/office/visits/V1/reason", "/office/visits/V1/correct", "/office/visits/V1/reassign",
         "/office/exceptions/1/check", "/office/alerts/1/acknowledge",
         "/office/care-workers/C1/unlock", "/office/care-workers/C1/pin",
         "/office/care-workers/C1/details", "/office/api-tokens", "/office/api-tokens/1/revoke",
         "/office/rota", "/office/adults/A1/code-sheet", "/office/unplanned/1/correct",
         "/office/users", "/office/users/cora/role", "/office/users/cora/deactivate",
         "/office/users/cora/reactivate", "/office/users/cora/password",
         "/office/users/cora/unlock"]


@pytest.fixture
def missed_visit(session: Session) -> None:
    """Visit V1 for adult A1 and carer C1, planned three hours ago: missed."""
    adult = make_adult(session, ref="A1")
    carer = make_care_worker(session, ref="C1")
    make_planned_visit(session, adult, [carer], start=DEFAULT_NOW - timedelta(hours=3), ref="V1")
    session.commit()


@pytest.mark.parametrize("path", PAGES)
def test_no_page_opens_without_a_login(office: Office, path: str) -> None:
    response = office.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/office/login?next=")


@pytest.mark.parametrize("path", FORMS)
def test_no_form_is_accepted_without_a_login(office: Office, path: str) -> None:
    response = office.client.post(path, data={"csrf_token": office.csrf()})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/office/login")


@pytest.mark.parametrize("path", FORMS)
def test_every_form_is_refused_without_the_csrf_token(as_administrator: Office,
                                                      path: str) -> None:
    response = as_administrator.client.post(path, data={"name": "x", "reason": "some reason"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_a_forged_csrf_token_changes_nothing(as_coordinator: Office, missed_visit: None,
                                             database: Database) -> None:
    response = as_coordinator.client.post("/office/visits/V1/reason", data={
        "code": "client_in_hospital", "csrf_token": "forged-" + as_coordinator.token()})
    assert response.status_code == 400
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(VisitReasonCode)) == 0


def test_login_form_needs_the_csrf_token_too(office: Office, coordinator: OfficeUser) -> None:
    response = office.client.post("/office/login", data={"username": "cora",
                                                         "password": PASSWORD})
    assert response.status_code == 400
    assert office.get("/office/").status_code == 302


def test_a_coordinator_cannot_manage_api_tokens(as_coordinator: Office,
                                                database: Database) -> None:
    assert as_coordinator.get("/office/api-tokens").status_code == 403
    assert as_coordinator.post("/office/api-tokens", {"name": "sneaky"}).status_code == 403
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 0
    assert "API tokens" not in as_coordinator.get("/office/").get_data(as_text=True)


def test_a_coordinator_cannot_upload_a_rota_or_reset_a_pin(as_coordinator: Office,
                                                           missed_visit: None) -> None:
    assert as_coordinator.get("/office/rota").status_code == 403
    assert as_coordinator.post("/office/care-workers/C1/pin",
                               {"pin": "2580", "pin_again": "2580"}).status_code == 403


def test_a_manager_uploads_rotas_but_cannot_manage_api_tokens(as_manager: Office) -> None:
    assert as_manager.get("/office/rota").status_code == 200
    assert as_manager.get("/office/api-tokens").status_code == 403


def test_an_administrator_creates_a_token_that_the_api_accepts(
        as_administrator: Office, app: Flask, database: Database) -> None:
    page = as_administrator.post("/office/api-tokens", {"name": "rostering"})
    body = page.get_data(as_text=True)
    assert "shown only this once" in body
    token = body.split('<code id="new-token">')[1].split("</code>")[0]
    api = app.test_client().get("/api/v1/lockouts",
                                headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    with database.unit_of_work() as session:
        stored = session.scalars(select(ApiToken)).one()
        assert stored.token_hash != token
        audit = session.scalars(select(AuditEntry).where(AuditEntry.entity == "api_token")).one()
        assert audit.actor == "office:ada"
    as_administrator.post(f"/office/api-tokens/{stored.id}/revoke")
    api = app.test_client().get("/api/v1/lockouts",
                                headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401


def test_passwords_are_stored_as_argon2id_hashes(database: Database, session: Session) -> None:
    from ivr_gateway.office.accounts import create_office_user

    user = create_office_user(session, "Bea", "a long pass phrase", OfficeRole.MANAGER,
                              now=DEFAULT_NOW, actor="test")
    session.commit()
    assert user.username == "bea"
    assert user.password_hash.startswith("$argon2id$")
    assert "a long pass phrase" not in user.password_hash
    assert verify_password(user.password_hash, "a long pass phrase")


@pytest.mark.parametrize("password, problem", [
    ("short", "at least 12 characters"),
    ("my name is bea really", "must not contain the username"),
    ("aaaaaaaaaaaaaaaa", "too few characters"),
])
def test_weak_passwords_are_refused_with_the_reason(session: Session, password: str,
                                                    problem: str) -> None:
    from ivr_gateway.office.accounts import create_office_user

    with pytest.raises(ValueError, match=problem):
        create_office_user(session, "bea", password, OfficeRole.MANAGER, now=DEFAULT_NOW,
                           actor="test")


def test_wrong_passwords_from_several_addresses_lock_the_login_even_against_the_right_one(
        office: Office, app: Flask, coordinator: OfficeUser, clock: FixedClock,
        database: Database) -> None:
    for attempt in range(5):
        response = office_from(app, f"198.51.100.{attempt % 3 + 1}").login(
            "cora", "wrong password!")
        assert response.status_code == 401
        assert "Wrong username or password." in response.get_data(as_text=True)
        assert "more tr" not in response.get_data(as_text=True)  # no count to tell users apart
    refused = office.login("cora")
    assert refused.status_code == 401
    assert "locked" in refused.get_data(as_text=True)
    assert "09:15" in refused.get_data(as_text=True)  # shown in London time
    clock.advance(minutes=16)
    assert office.login("cora").status_code == 302
    with database.unit_of_work() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "lock")).one()


def test_failures_spread_beyond_the_window_do_not_lock(office: Office, coordinator: OfficeUser,
                                                       clock: FixedClock) -> None:
    for _ in range(4):
        office.login("cora", "wrong password!")
    clock.advance(minutes=20)
    office.login("cora", "wrong password!")
    assert office.login("cora").status_code == 302


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(
        office: Office, coordinator: OfficeUser) -> None:
    unknown = office.login("nobody", "whatever it is")
    assert unknown.status_code == 401
    assert "Wrong username or password." in unknown.get_data(as_text=True)


def test_logout_ends_the_session_even_for_a_copied_cookie(as_coordinator: Office,
                                                          app: Flask) -> None:
    cookie = as_coordinator.client.get_cookie("ivr_office")
    assert cookie is not None
    as_coordinator.post("/office/logout")
    thief = app.test_client()
    thief.set_cookie("ivr_office", cookie.value)
    assert thief.get("/office/").status_code == 302


def test_session_cookie_is_http_only_same_site_and_secure_behind_https(
        database: Database, clock: FixedClock, session: Session) -> None:
    from ivr_gateway.app import create_app

    make_office_user(session, "cora", OfficeRole.COORDINATOR)
    settings = Settings(database_url=database.url, public_base_url="https://gw.example.org")
    app = create_app(settings, database, clock)
    office = Office(app.test_client())
    response = office.login("cora")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" in cookie


def test_login_does_not_redirect_off_site(office: Office, coordinator: OfficeUser) -> None:
    response = office.client.post("/office/login", data={
        "username": "cora", "password": PASSWORD, "csrf_token": office.csrf(),
        "next": "//evil.example.com/office/"})
    assert response.headers["Location"] == "/office/"


def test_pages_are_not_cached_and_cannot_be_framed(as_coordinator: Office) -> None:
    response = as_coordinator.get("/office/")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
