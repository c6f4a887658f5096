"""PUT and GET /api/v1/care-workers/<ref>, PINs, lockouts and unlocking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import DEV_PIN_PEPPER as PEPPER
from ivr_gateway.db import Database
from ivr_gateway.hashing import verify_pin
from ivr_gateway.models import AuditEntry, CareWorker, PinFailure
from tests.api.conftest import Api, care_worker_body, count
from tests.factories import make_care_worker


def _pin_hash(database: Database, ref: str) -> str | None:
    with database.unit_of_work() as session:
        return session.scalars(select(CareWorker.pin_hash).where(CareWorker.ref == ref)).one()


def test_new_care_worker_is_created_with_mobiles_in_e164(api: Api) -> None:
    response = api.put("/care-workers/C1", care_worker_body(language="pl"))
    assert response.status_code == 201
    carer = response.get_json()["care_worker"]
    assert carer["mobiles"] == ["+447400123456"]
    assert carer["language"] == "pl"
    assert carer["pin_set"] is False
    assert carer["locked_until"] is None
    assert api.get("/care-workers/C1").get_json() == carer


def test_pin_is_stored_hashed_verifies_and_is_never_returned(
        api: Api, database: Database) -> None:
    response = api.put("/care-workers/C1", care_worker_body(pin="3860"))
    assert response.status_code == 201
    assert "3860" not in response.get_data(as_text=True)
    assert response.get_json()["care_worker"]["pin_set"] is True
    assert "3860" not in api.get("/care-workers/C1").get_data(as_text=True)
    stored = _pin_hash(database, "C1")
    assert stored is not None and "3860" not in stored
    assert verify_pin(stored, "3860", PEPPER)
    with database.unit_of_work() as session:
        audit = session.scalars(select(AuditEntry)).one()
        assert "3860" not in str(audit.detail)
        assert audit.detail["changes"]["pin"] == "set"


def test_same_pin_again_is_unchanged_and_a_new_pin_resets_it(
        api: Api, database: Database) -> None:
    api.put("/care-workers/C1", care_worker_body(pin="3860"))
    assert api.put("/care-workers/C1", care_worker_body(pin="3860")).get_json()["change"] == (
        "unchanged")
    assert api.put("/care-workers/C1", care_worker_body()).get_json()["change"] == "unchanged"
    response = api.put("/care-workers/C1", care_worker_body(pin="7391"))
    assert response.get_json()["change"] == "updated"
    stored = _pin_hash(database, "C1")
    assert verify_pin(stored, "7391", PEPPER) and not verify_pin(stored, "3860", PEPPER)


@pytest.mark.parametrize(("pin", "reason"), [
    ("1111", "all the same digit"), ("1234", "straight run"), ("9876", "straight run"),
    ("4821", "must not be the staff number"), ("123", "exactly 4 digits"),
    ("12a4", "digits only"),
])
def test_weak_or_malformed_pin_is_refused(api: Api, database: Database, pin: str,
                                          reason: str) -> None:
    response = api.put("/care-workers/C1", care_worker_body(pin=pin))
    assert response.status_code == 422
    [problem] = response.get_json()["error"]["fields"]
    assert problem["field"] == "pin"
    assert reason in problem["message"]
    assert pin not in response.get_data(as_text=True)
    assert count(database, CareWorker) == 0


def test_landline_given_as_a_mobile_is_refused_with_the_field_named(
        api: Api, database: Database) -> None:
    response = api.put("/care-workers/C1",
                       care_worker_body(mobiles=["07400 123456", "020 7946 0001"]))
    assert response.status_code == 422
    [problem] = response.get_json()["error"]["fields"]
    assert problem == {"field": "mobiles[1]", "message":
                       "+442079460001 is not a mobile number; carers' texts need a mobile"}
    assert count(database, CareWorker) == 0


def test_staff_number_and_mobile_of_another_carer_are_refused(api: Api) -> None:
    api.put("/care-workers/C1", care_worker_body())
    taken_number = api.put("/care-workers/C2", care_worker_body(mobiles=[]))
    assert taken_number.get_json()["error"]["fields"][0]["field"] == "staff_number"
    assert "already belongs to care worker C1" in taken_number.get_json()["error"]["message"]
    taken_mobile = api.put("/care-workers/C2", care_worker_body(staff_number="5902"))
    assert taken_mobile.get_json()["error"]["fields"][0]["field"] == "mobiles[0]"


def test_staff_number_needs_the_configured_number_of_digits(api: Api) -> None:
    response = api.put("/care-workers/C1", care_worker_body(staff_number="48210"))
    assert response.get_json()["error"]["fields"] == [{
        "field": "staff_number", "message": "staff_number must be exactly 4 digits, got 5"}]
    wrong_language = api.put("/care-workers/C1", care_worker_body(language="fr"))
    assert wrong_language.get_json()["error"]["fields"][0]["field"] == "language"


def test_locked_out_carer_is_listed_shown_and_can_be_unlocked(
        api: Api, database: Database, clock: FixedClock) -> None:
    until = clock.now() + timedelta(minutes=10)
    with database.unit_of_work() as session:
        locked = make_care_worker(session, staff_number="1111", ref="C7")
        locked.locked_until = until
        released = make_care_worker(session, staff_number="2222", ref="C8")
        released.locked_until = clock.now() - timedelta(minutes=1)
        make_care_worker(session, staff_number="3333", ref="C9")
        session.add_all([PinFailure(staff_number="1111", call_sid=f"CA{i}", at=clock.now())
                         for i in range(5)])

    lockouts = api.get("/lockouts").get_json()["lockouts"]
    assert [(lock["ref"], lock["locked_until"]) for lock in lockouts] == [
        ("C7", "2026-01-13T09:10:00Z")]
    assert api.get("/care-workers/C7").get_json()["locked_until"] == "2026-01-13T09:10:00Z"

    response = api.post("/care-workers/C7/unlock")
    assert response.status_code == 200
    assert response.get_json()["change"] == "updated"
    assert response.get_json()["care_worker"]["locked_until"] is None
    assert api.get("/lockouts").get_json() == {"lockouts": [], "next_cursor": None}
    assert count(database, PinFailure) == 0
    assert api.post("/care-workers/C9/unlock").get_json()["change"] == "unchanged"
    with database.unit_of_work() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "unlock")).one()
        assert audit.entity_ref == "C7"
        assert audit.detail == {"locked_until": until.isoformat(), "pin_failures_cleared": 5}


def test_unlocking_an_unknown_carer_is_404(api: Api) -> None:
    assert api.post("/care-workers/NOPE/unlock").status_code == 404
    assert api.get("/care-workers/NOPE").status_code == 404


def test_lockout_past_its_time_is_not_listed(api: Api, database: Database,
                                             clock: FixedClock) -> None:
    with database.unit_of_work() as session:
        carer = make_care_worker(session, staff_number="1111")
        carer.locked_until = datetime(2026, 1, 13, 9, 5, tzinfo=UTC)
    assert len(api.get("/lockouts").get_json()["lockouts"]) == 1
    clock.advance(minutes=6)
    assert api.get("/lockouts").get_json()["lockouts"] == []
