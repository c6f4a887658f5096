"""Changing your own password, and the temporary password an administrator sets."""

from __future__ import annotations

import pytest
from flask import Flask

from ivr_gateway.db import Database
from ivr_gateway.office.auth import verify_password
from ivr_gateway.office.models import OfficeUser
from tests.office.conftest import PASSWORD, Office
from tests.office.conftest import office_user_audit as _audit
from tests.office.conftest import stored_office_user as _user

OWN_PASSWORD = "my very own phrase 42"
TEMPORARY = "a fresh temporary phrase"


def _change(office: Office, current: str, new: str, again: str | None = None) -> str:
    """Post the change-password form and return the page it lands on."""
    return office.post("/office/password", {
        "current_password": current, "password": new,
        "password_again": new if again is None else again},
        follow_redirects=True).get_data(as_text=True)


def test_every_page_links_to_the_change_password_form(as_coordinator: Office) -> None:
    assert 'href="/office/password"' in as_coordinator.get("/office/").get_data(as_text=True)
    page = as_coordinator.get("/office/password")
    assert page.status_code == 200
    assert 'name="current_password"' in page.get_data(as_text=True)


def test_the_form_needs_a_login(office: Office) -> None:
    assert office.get("/office/password").headers["Location"].startswith("/office/login")


def test_a_user_changes_their_password_and_only_this_session_survives(
        as_coordinator: Office, app: Flask, database: Database) -> None:
    elsewhere = Office(app.test_client())
    assert elsewhere.login("cora").status_code == 302
    epoch_before = _user(database, "cora").session_epoch

    page = _change(as_coordinator, PASSWORD, OWN_PASSWORD)

    assert "Password changed" in page
    cora = _user(database, "cora")
    assert verify_password(cora.password_hash, OWN_PASSWORD)
    assert cora.session_epoch == epoch_before + 1
    assert as_coordinator.get("/office/").status_code == 200  # this session is kept
    assert elsewhere.get("/office/").headers["Location"].startswith("/office/login")
    assert Office(app.test_client()).login("cora").status_code == 401
    assert Office(app.test_client()).login("cora", OWN_PASSWORD).status_code == 302
    audit = _audit(database, "cora")
    assert audit == [("change_password", "office:cora", {"was_temporary": False})]
    assert OWN_PASSWORD not in repr(audit) and PASSWORD not in repr(audit)


@pytest.mark.parametrize("new, again, problem", [
    ("short", None, "at least 12 characters"),
    ("cora has a long phrase", None, "must not contain the username"),
    ("abababababababab", None, "repeats too few characters"),
    (PASSWORD, None, "must differ from the current one"),
    (OWN_PASSWORD, OWN_PASSWORD + "!", "The two new passwords differ"),
])
def test_a_new_password_breaking_a_rule_is_refused_with_the_reason(
        as_coordinator: Office, database: Database, new: str, again: str | None,
        problem: str) -> None:
    page = _change(as_coordinator, PASSWORD, new, again)
    assert problem in page
    cora = _user(database, "cora")
    assert verify_password(cora.password_hash, PASSWORD)
    assert cora.session_epoch == 0
    assert _audit(database, "cora") == []


def test_a_wrong_current_password_changes_nothing(as_coordinator: Office,
                                                  database: Database) -> None:
    page = _change(as_coordinator, "not my password at all", OWN_PASSWORD)
    assert "The current password is wrong" in page
    cora = _user(database, "cora")
    assert verify_password(cora.password_hash, PASSWORD)
    assert cora.session_epoch == 0
    assert _audit(database, "cora") == []
    assert as_coordinator.get("/office/").status_code == 200


def test_a_forged_csrf_token_changes_nothing(as_coordinator: Office,
                                             database: Database) -> None:
    response = as_coordinator.client.post("/office/password", data={
        "current_password": PASSWORD, "password": OWN_PASSWORD, "password_again": OWN_PASSWORD,
        "csrf_token": "forged-" + as_coordinator.token()})
    assert response.status_code == 400
    cora = _user(database, "cora")
    assert verify_password(cora.password_hash, PASSWORD)
    assert cora.session_epoch == 0
    assert _audit(database, "cora") == []


def _temporary_user(as_administrator: Office, app: Flask) -> Office:
    """Jo, added by ada with a temporary password, logged in with it."""
    as_administrator.post("/office/users", {"username": "jo", "role": "manager",
                                            "password": TEMPORARY})
    jo = Office(app.test_client())
    assert jo.login("jo", TEMPORARY).status_code == 302
    return jo


def test_a_new_user_must_change_the_temporary_password_before_anything_else(
        as_administrator: Office, app: Flask, database: Database) -> None:
    jo = _temporary_user(as_administrator, app)
    assert _user(database, "jo").must_change_password is True

    for path in ["/office/", "/office/board/live", "/office/alerts", "/office/rota",
                 "/office/kpi", "/office/visits/V-1"]:
        assert jo.get(path).headers["Location"] == "/office/password", path
    # Forms are held back too: nothing is done with a password someone else knows.
    refused = jo.post("/office/alerts/1/acknowledge", {"note": "done"})
    assert refused.headers["Location"] == "/office/password"
    page = jo.get("/office/password").get_data(as_text=True)
    assert "Your password was set by an administrator, so it is only temporary" in page

    assert "Password changed" in _change(jo, TEMPORARY, OWN_PASSWORD)

    assert _user(database, "jo").must_change_password is False
    assert jo.get("/office/").status_code == 200
    assert jo.get("/office/rota").status_code == 200
    assert "only temporary" not in jo.get("/office/password").get_data(as_text=True)
    assert _audit(database, "jo")[-1] == ("change_password", "office:jo",
                                          {"was_temporary": True})


def test_the_password_page_points_a_wall_screen_to_a_display_link(
        as_administrator: Office, app: Flask) -> None:
    jo = _temporary_user(as_administrator, app)  # e.g. a wall screen logged in as a person
    hint = ("For a wall screen, do not log in as a person: an administrator makes it a display "
            "link under Wall screens in the menu at the top, which shows the board with nobody "
            "logged in.")
    assert hint in jo.get("/office/password").get_data(as_text=True)
    # An administrator has the menu item: the words link to it.
    page = as_administrator.get("/office/password").get_data(as_text=True)
    assert '<a href="/office/display-links">Wall screens</a> in the menu at the top' in page
    assert '<a href="/office/display-links">Wall screens</a></li>' in page  # the menu's words


def test_a_temporary_password_cannot_be_kept(as_administrator: Office, app: Flask,
                                             database: Database) -> None:
    jo = _temporary_user(as_administrator, app)
    assert "must differ from the current one" in _change(jo, TEMPORARY, TEMPORARY)
    assert _user(database, "jo").must_change_password is True
    assert jo.get("/office/").headers["Location"] == "/office/password"


def test_a_user_with_a_temporary_password_can_still_log_out(as_administrator: Office,
                                                            app: Flask) -> None:
    jo = _temporary_user(as_administrator, app)
    assert jo.post("/office/logout").headers["Location"] == "/office/login"
    assert jo.get("/office/").headers["Location"].startswith("/office/login")


def test_a_password_reset_makes_the_password_temporary_again(
        as_administrator: Office, app: Flask, coordinator: OfficeUser,
        database: Database) -> None:
    as_administrator.post("/office/users/cora/password",
                          {"password": TEMPORARY, "password_again": TEMPORARY})
    assert _user(database, "cora").must_change_password is True
    assert "temporary: they must choose their own" in as_administrator.get(
        "/office/users/cora").get_data(as_text=True)
    cora = Office(app.test_client())
    assert cora.login("cora", TEMPORARY).status_code == 302
    assert cora.get("/office/").headers["Location"] == "/office/password"
    _change(cora, TEMPORARY, OWN_PASSWORD)
    assert cora.get("/office/").status_code == 200
    assert _user(database, "cora").must_change_password is False


def test_existing_users_are_not_forced_to_change(as_coordinator: Office,
                                                 database: Database) -> None:
    assert _user(database, "cora").must_change_password is False
    assert as_coordinator.get("/office/").status_code == 200
