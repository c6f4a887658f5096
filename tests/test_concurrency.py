"""Webhooks racing each other on a real server: Twilio's duplicate deliveries change nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ivr.models import Call, CallStep
from ivr_gateway.models import ActualVisit, LogEvent
from ivr_gateway.telephony.signature import sign
from tests.conftest import DEFAULT_NOW
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.live_server import serving

RACERS = 8


@pytest.fixture
def base_url(database: Database, clock: FixedClock) -> Iterator[str]:
    """The gateway on a real threaded server (a pool big enough for every racer)."""
    db = Database(database.url, **({} if database.is_sqlite else {"pool_size": RACERS + 2}))
    with serving(lambda base_url: create_app(
            Settings(database_url=database.url, public_base_url=base_url), db, clock)) as url:
        yield url
    db.dispose()


def _race(url: str, form: dict[str, str], token: str) -> list[requests.Response]:
    barrier = threading.Barrier(RACERS)
    headers = {"X-Twilio-Signature": sign(token, url, form)}

    def post(_: int) -> requests.Response:
        barrier.wait(timeout=10)
        return requests.post(url, data=form, headers=headers, timeout=30)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(post, range(RACERS)))


def test_simultaneous_duplicates_of_every_step_give_one_answer_and_one_log_event(
    base_url: str, session: Session
) -> None:
    adult = make_adult(session, landlines=("+441134960001",))
    carer = make_care_worker(session, staff_number="1234", pin="5678")
    make_planned_visit(session, adult, [carer], start=DEFAULT_NOW)
    session.commit()
    token = Settings().twilio_auth_token
    form = {"CallSid": "CA" + "5" * 32, "From": "+441134960001", "To": "+441134960000",
            "AccountSid": "AC" + "0" * 32}
    steps = [(f"{base_url}/twilio/voice", {}), (f"{base_url}/twilio/voice/step/1",
             {"Digits": "1234"}), (f"{base_url}/twilio/voice/step/2", {"Digits": "5678"})]
    for url, extra in steps:
        responses = _race(url, {**form, **extra}, token)
        assert {r.status_code for r in responses} == {200}
        assert len({r.text for r in responses}) == 1, "every duplicate gets the same TwiML"
    assert "Logged in at" in responses[0].text
    assert session.scalar(select(func.count()).select_from(Call)) == 1
    assert session.scalar(select(func.count()).select_from(CallStep)) == 3
    assert session.scalar(select(func.count()).select_from(LogEvent)) == 1
    assert session.scalar(select(func.count()).select_from(ActualVisit)) == 1
