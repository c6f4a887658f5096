"""One-way actions ask first: revoking an API token and deactivating an office user show a
confirmation page (GET), and only its form (POST, with the CSRF token) does it."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select

from ivr_gateway.api.models import ApiToken
from ivr_gateway.db import Database
from ivr_gateway.models import AuditEntry
from ivr_gateway.office.models import OfficeUser
from tests.office.conftest import Office, office_user_audit, stored_office_user


def _form(html: str) -> tuple[str, str]:
    """The confirmation page's form: its action and its CSRF token."""
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert action and token, "the page has no confirmation form"
    return action.group(1), token.group(1)


def _api_status(app: Flask, token: str) -> int:
    return app.test_client().get("/api/v1/lockouts",
                                 headers={"Authorization": f"Bearer {token}"}).status_code


def test_revoking_an_api_token_asks_first_and_changes_nothing_until_confirmed(
        as_administrator: Office, app: Flask, database: Database) -> None:
    body = as_administrator.post("/office/api-tokens", {"name": "rostering"}).get_data(
        as_text=True)
    token = body.split('<code id="new-token">')[1].split("</code>")[0]
    with database.unit_of_work() as session:
        token_id = session.scalars(select(ApiToken.id)).one()

    listing = as_administrator.get("/office/api-tokens").get_data(as_text=True)
    assert f'href="/office/api-tokens/{token_id}/revoke"' in listing  # a link, not a form

    page = as_administrator.get(f"/office/api-tokens/{token_id}/revoke")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Revoke the token rostering?" in html and "cannot be brought back" in html
    assert _api_status(app, token) == 200  # seeing the question revoked nothing
    with database.unit_of_work() as session:
        assert session.get_one(ApiToken, token_id).revoked_at is None
        assert session.scalars(select(AuditEntry.action).where(
            AuditEntry.entity == "api_token")).all() == ["create"]

    action, csrf = _form(html)
    assert action == f"/office/api-tokens/{token_id}/revoke"
    forged = as_administrator.client.post(action, data={})  # no CSRF token: refused
    assert forged.status_code == 400 and _api_status(app, token) == 200
    done = as_administrator.client.post(action, data={"csrf_token": csrf},
                                        follow_redirects=True)
    assert "Token revoked." in done.get_data(as_text=True)
    assert _api_status(app, token) == 401


def test_deactivating_an_office_user_asks_first_and_changes_nothing_until_confirmed(
        as_administrator: Office, coordinator: OfficeUser, database: Database) -> None:
    user_page = as_administrator.get("/office/users/cora").get_data(as_text=True)
    assert 'href="/office/users/cora/deactivate"' in user_page

    page = as_administrator.get("/office/users/cora/deactivate")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Deactivate Cora?" in html and "logged out at once on every device" in html
    assert stored_office_user(database, "cora").active  # the question changed nothing
    assert office_user_audit(database, "cora") == []

    action, csrf = _form(html)
    assert action == "/office/users/cora/deactivate"
    done = as_administrator.client.post(action, data={"csrf_token": csrf},
                                        follow_redirects=True)
    assert "Deactivated: they are logged out and cannot log in." in done.get_data(as_text=True)
    assert not stored_office_user(database, "cora").active
    assert [a[0] for a in office_user_audit(database, "cora")] == ["deactivate"]


def test_the_confirmation_pages_are_for_administrators_only(
        as_coordinator: Office) -> None:
    assert as_coordinator.get("/office/users/cora/deactivate").status_code == 403
    assert as_coordinator.get("/office/api-tokens/1/revoke").status_code == 403
