"""Guessing office passwords: no usernames given away, no one kept out by a stranger."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.office.auth import LoginRefused, authenticate
from ivr_gateway.office.models import OfficeUser
from tests.conftest import DEFAULT_NOW
from tests.office.conftest import Office, office_from

STRANGER = "203.0.113.9"


def _message(response_text: str) -> str:
    match = re.search(r'class="[^"]*error[^"]*"[^>]*>(.*?)<', response_text, re.S)
    return match.group(1).strip() if match else response_text


def test_a_known_and_an_unknown_username_get_the_same_answer(app: Flask,
                                                            coordinator: OfficeUser) -> None:
    stranger = office_from(app, STRANGER)
    answers = []
    for username in ("cora", "nobody", "cora", "nobody", "cora"):
        response = stranger.login(username, "a wrong guess!")
        assert response.status_code == 401
        page = response.get_data(as_text=True)
        answers.append(re.sub(r'name="csrf_token" value="[^"]+"', "", page)
                       .replace('value="cora"', "").replace('value="nobody"', ""))
        assert "more tr" not in page and "locked" not in page
    assert len(set(answers)) == 1


def test_a_strangers_wrong_guesses_neither_lock_her_out_nor_end_her_session(
        as_coordinator: Office, app: Flask, coordinator: OfficeUser) -> None:
    stranger = office_from(app, STRANGER)
    for _ in range(9):
        assert stranger.login("cora", "is it this one?").status_code == 401
    assert as_coordinator.get("/office/").status_code == 200  # her live session goes on
    assert Office(app.test_client()).login("cora").status_code == 302  # and her desk logs in


def test_one_address_is_stopped_after_ten_wrong_logins_and_only_that_one(
        app: Flask, coordinator: OfficeUser, clock: FixedClock) -> None:
    stranger = office_from(app, STRANGER)
    for n in range(10):
        stranger.login(f"user{n}", "a wrong guess!")
    refused = stranger.login("cora")  # even the right password, from there
    assert refused.status_code == 401
    assert "Too many wrong logins from this network" in refused.get_data(as_text=True)
    assert Office(app.test_client()).login("cora").status_code == 302  # not her own address
    clock.advance(minutes=16)
    assert stranger.login("cora").status_code == 302


def test_a_lock_from_several_addresses_does_not_end_live_sessions(
        as_coordinator: Office, app: Flask, coordinator: OfficeUser) -> None:
    for n in range(6):
        office_from(app, f"198.51.100.{n % 3 + 1}").login("cora", "wrong password!")
    assert "locked" in Office(app.test_client()).login("cora").get_data(as_text=True)
    assert as_coordinator.get("/office/").status_code == 200


def test_a_nul_in_the_login_name_is_a_clear_refusal(app: Flask,
                                                   coordinator: OfficeUser) -> None:
    # PostgreSQL refuses a NUL in text: the request guard answers 400 before any query.
    response = office_from(app, STRANGER).login("co\x00ra", "whatever")
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)


def test_authenticate_itself_treats_a_nul_in_the_name_as_an_unknown_user(
        session: Session, coordinator: OfficeUser) -> None:
    with pytest.raises(LoginRefused, match="Wrong username or password"):
        authenticate(session, "co\x00ra", "whatever", DEFAULT_NOW, ZoneInfo("Europe/London"),
                     source=STRANGER)
