"""What the carer hears back: a log-out says "from", and a visit's length is spoken sensibly.

Each test plays a real call (signed webhooks, the TwiML parsed as XML) and checks the words.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.models import LogEvent, LogKind
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import play, rows
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)  # 09:00 GMT = 09:00 London


def _rota(session: Session, language: str = "en") -> None:
    adult = make_adult(session, given_name="Cora", family_name="Ashby", landlines=(LANDLINE,))
    carer = make_care_worker(session, staff_number="1234", pin="5678", language=language)
    make_planned_visit(session, adult, [carer], start=NINE_AM, minutes=30, ref="V1")
    session.commit()


@pytest.mark.parametrize(("language", "heard"), [
    ("en", "Changed. Logged out at 9:05 from C. A."),
    ("pl", "Zmieniono. Wylogowano o 9:05 u C. A."),
])
def test_press_9_turning_a_log_in_into_a_log_out_reads_back_from_the_client(
    twilio: TwilioClient, session: Session, clock: FixedClock, language: str, heard: str
) -> None:
    _rota(session, language)
    clock.set(NINE_AM + timedelta(minutes=5))
    call = play(twilio, LANDLINE, "1234", "5678", "9")  # heard as a log-in; it was a log-out
    assert call.ended and call.last is not None
    assert call.last.verbs() == ["Say", "Hangup"]
    assert call.heard[-1] == heard
    assert " for " not in call.heard[-1]


def test_press_9_turning_a_log_out_into_a_log_in_reads_back_for_the_client(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session)
    clock.set(NINE_AM)
    play(twilio, LANDLINE, "1234", "5678")
    clock.set(NINE_AM + timedelta(minutes=2))
    call = play(twilio, LANDLINE, "1234", "5678", "9")  # heard as a log-out; it was a log-in
    assert call.heard[-1].startswith("Changed. Logged in at ")
    assert call.heard[-1].endswith(" for C. A.")


@pytest.mark.parametrize(("language", "after", "said"), [
    ("en", timedelta(seconds=40), "Logged out at 9:00 from C. A. Under a minute. "),
    ("en", timedelta(minutes=1, seconds=10), "Logged out at 9:01 from C. A. 1 minute. "),
    ("en", timedelta(minutes=2), "Logged out at 9:02 from C. A. 2 minutes. "),
    ("pl", timedelta(seconds=40), "Wylogowano o 9:00 u C. A. Mniej niż minuta. "),
    ("pl", timedelta(minutes=1, seconds=10), "Wylogowano o 9:01 u C. A. 1 minuta. "),
])
def test_a_log_out_says_how_long_the_visit_was_in_words(
    twilio: TwilioClient, session: Session, clock: FixedClock, language: str,
    after: timedelta, said: str
) -> None:
    _rota(session, language)
    clock.set(NINE_AM)
    play(twilio, LANDLINE, "1234", "5678")
    clock.set(NINE_AM + after)
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.last is not None and call.last.gather() is not None  # 1 / 9 may be keyed
    assert call.heard[-1].startswith(said)
    assert "0 minut" not in call.heard[-1]
    assert [e.kind for e in rows(session, LogEvent)] == [LogKind.IN, LogKind.OUT]
