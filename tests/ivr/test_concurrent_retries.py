"""Twilio's duplicate of a step arriving while the first is still being answered (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.ivr.models import Call, CallStep
from ivr_gateway.models import LogEvent
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import count, play
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
COPIES = 4


def _post_at_once(app: Flask, settings: Settings, url: str, params: dict[str, str]
                  ) -> list[bytes]:
    barrier = threading.Barrier(COPIES)
    answers: list[bytes] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            client = TwilioClient(app.test_client(), settings.twilio_auth_token)
            barrier.wait(timeout=10)
            answers.append(client.post_twiml(url, params).response.get_data())
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=post) for _ in range(COPIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return answers


@pytest.mark.postgres_only
def test_concurrent_copies_of_the_first_webhook_make_one_call(
    app: Flask, settings: Settings, session: Session
) -> None:
    make_adult(session, landlines=(LANDLINE,))
    session.commit()
    params = {"CallSid": "CA" + "7" * 32, "From": LANDLINE, "To": "+441134960000"}
    answers = _post_at_once(app, settings, "/twilio/voice", params)
    assert len(answers) == COPIES and len(set(answers)) == 1
    assert count(session, Call) == 1
    assert count(session, CallStep) == 1


@pytest.mark.postgres_only
def test_concurrent_copies_of_the_pin_step_log_in_once(
    app: Flask, settings: Settings, twilio: TwilioClient, session: Session
) -> None:
    adult = make_adult(session, landlines=(LANDLINE,))
    carer = make_care_worker(session, staff_number="1234", pin="5678")
    make_planned_visit(session, adult, [carer], start=NINE_AM)
    session.commit()
    call = play(twilio, LANDLINE, "1234")
    answers = _post_at_once(app, settings, "/twilio/voice/step/2", call.params(Digits="5678"))
    assert len(set(answers)) == 1
    assert b"Logged in at 9:00" in answers[0]
    assert count(session, CallStep, CallStep.call_sid == call.call_sid) == 3
    assert count(session, LogEvent) == 1
