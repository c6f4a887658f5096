"""Which client's home is the carer in: caller ID, a shared landline, or the keyed client number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.ivr.models import CallStep
from ivr_gateway.models import (
    ActualVisit,
    Adult,
    ExceptionCode,
    LogEvent,
    LogKind,
    PinFailure,
    Verification,
    VisitException,
)
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import count, exception_codes, play, rows
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
CLIENT_NUMBER_PROMPT = "Phone not recognised. Key the client number from the care plan."


def _joan_and_amy(session: Session) -> Adult:
    adult = make_adult(session, given_name="Joan", family_name="Smith", landlines=(LANDLINE,),
                       client_number="246810")
    carer = make_care_worker(session, staff_number="1234", pin="5678")
    make_planned_visit(session, adult, [carer], start=NINE_AM, ref="V1")
    session.commit()
    return adult


# --- A landline shared by two clients ----------------------------------------------------------

def _household(session: Session) -> tuple[Adult, Adult]:
    joan = make_adult(session, given_name="Joan", family_name="Smith", landlines=(LANDLINE,))
    mary = make_adult(session, given_name="Mary", family_name="Smith", landlines=(LANDLINE,))
    carer = make_care_worker(session, staff_number="1234", pin="5678")
    make_planned_visit(session, mary, [carer], start=NINE_AM, ref="V-MARY")
    session.commit()
    return joan, mary


def test_shared_landline_asks_which_client_and_logs_to_the_chosen_one(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _joan, mary = _household(session)
    clock.set(NINE_AM + timedelta(minutes=1))
    call = play(twilio, LANDLINE)
    assert call.heard == ["Press 1 for J. S., 2 for M. S."]
    gather = call.last.gather() if call.last else None
    assert gather is not None and gather.attrib["numDigits"] == "1"

    call.press("2")
    assert call.heard[-1] == "Carer number."
    call.press("1234")
    call.press("5678")
    assert call.heard[-1] == "Logged in at 9:01 for M. S. Press 9 if wrong, 8 if you are with J. S."
    [event] = rows(session, LogEvent)
    assert (event.adult_id, event.kind, event.verification) == (
        mary.id, LogKind.IN, Verification.CALLER_ID)
    [visit] = rows(session, ActualVisit)
    assert visit.adult_id == mary.id and visit.planned_visit_id is not None
    assert exception_codes(session) == []


def test_shared_landline_invalid_choice_asks_again(
    twilio: TwilioClient, session: Session
) -> None:
    joan, _mary = _household(session)
    call = play(twilio, LANDLINE, "7")
    assert call.last is not None and call.last.said() == [
        "Not a choice.", "Press 1 for J. S., 2 for M. S."]
    call.press("1")
    assert call.heard[-1] == "Carer number."
    call.press("1234")
    call.press("5678")
    [event] = rows(session, LogEvent)
    assert event.adult_id == joan.id


def test_shared_landline_three_invalid_choices_end_the_call_with_nothing_logged(
    twilio: TwilioClient, session: Session
) -> None:
    _household(session)
    call = play(twilio, LANDLINE, "7", "0", "9")
    assert call.ended
    assert call.heard[-1] == "Client not found. Please ring the office."
    assert count(session, LogEvent) == 0


# --- Withheld or unknown caller ID: the carer keys the client number ---------------------------

@pytest.mark.parametrize("withheld", ["anonymous", "", "+266696687"])
def test_withheld_number_logs_in_with_unverified_location(
    twilio: TwilioClient, session: Session, clock: FixedClock, withheld: str
) -> None:
    adult = _joan_and_amy(session)
    clock.set(NINE_AM + timedelta(minutes=2))
    call = play(twilio, withheld)
    assert call.heard == [CLIENT_NUMBER_PROMPT]
    gather = call.last.gather() if call.last else None
    assert gather is not None and gather.attrib["numDigits"] == "6"

    call.press("246810")
    call.press("1234")
    call.press("5678")
    assert call.heard[-1] == ("Logged in at 9:02 for J. S. The office will check this phone. "
                              "Press 9 if wrong.")
    [event] = rows(session, LogEvent)
    assert event.adult_id == adult.id
    assert event.verification == Verification.UNVERIFIED
    assert event.raw["unverified_reason"] == "caller ID withheld"
    assert event.raw["client_number_keyed"] == "246810"
    [visit] = rows(session, ActualVisit)
    assert visit.in_verification == Verification.UNVERIFIED
    assert visit.planned_visit_id is not None  # still matched to the rota
    assert exception_codes(session) == [ExceptionCode.UNVERIFIED_LOCATION]


def test_unknown_landline_is_recorded_as_unverified_with_the_number(
    twilio: TwilioClient, session: Session
) -> None:
    _joan_and_amy(session)
    call = play(twilio, "+441134960099", "246810", "1234", "5678")
    assert call.heard[0] == CLIENT_NUMBER_PROMPT
    assert "The office will check this phone." in call.heard[-1]
    [event] = rows(session, LogEvent)
    assert event.verification == Verification.UNVERIFIED
    assert event.raw["unverified_reason"] == (
        "called from +441134960099, not registered to any client")
    [exception] = rows(session, VisitException)
    assert exception.code == ExceptionCode.UNVERIFIED_LOCATION
    assert "+441134960099" in exception.detail


def test_call_from_a_mobile_is_unverified_and_says_mobile(
    twilio: TwilioClient, session: Session
) -> None:
    _joan_and_amy(session)
    call = play(twilio, "+447911123456", "246810", "1234", "5678")
    assert call.heard[0] == CLIENT_NUMBER_PROMPT
    [event] = rows(session, LogEvent)
    assert event.verification == Verification.UNVERIFIED
    assert "mobile" in event.raw["unverified_reason"]
    assert "+447911123456" in event.raw["unverified_reason"]


def test_invalid_caller_id_is_treated_as_an_unknown_line(
    twilio: TwilioClient, session: Session
) -> None:
    _joan_and_amy(session)
    play(twilio, "12", "246810", "1234", "5678")
    [event] = rows(session, LogEvent)
    assert event.verification == Verification.UNVERIFIED
    assert "not a valid phone number" in event.raw["unverified_reason"]


def test_client_number_matching_no_client_three_times_says_goodbye_and_logs_nothing(
    twilio: TwilioClient, session: Session
) -> None:
    _joan_and_amy(session)
    call = play(twilio, "anonymous", "999999")
    assert call.last is not None
    assert call.last.said() == ["Client number not found.", CLIENT_NUMBER_PROMPT]
    call.press("111111")
    call.press("999999")
    assert call.ended
    assert call.last.said() == ["Client not found. Please ring the office."]
    assert count(session, LogEvent) == 0
    assert count(session, ActualVisit) == 0
    assert count(session, PinFailure) == 0


def test_inactive_client_is_not_found_by_client_number(
    twilio: TwilioClient, session: Session
) -> None:
    adult = _joan_and_amy(session)
    adult.active = False
    session.commit()
    call = play(twilio, "anonymous", "246810")
    assert call.heard[-1] == CLIENT_NUMBER_PROMPT
    assert call.last is not None and call.last.said()[0] == "Client number not found."


def test_sip_caller_id_longer_than_a_phone_number_is_kept_and_unverified(
    twilio: TwilioClient, session: Session
) -> None:
    _joan_and_amy(session)
    sip_from = "sip:+441134960001@trunk-1.example.pstn.twilio.com"
    call = play(twilio, sip_from, "246810", "1234", "5678")
    assert call.heard[0] == CLIENT_NUMBER_PROMPT
    assert "The office will check this phone." in call.heard[-1]
    [event] = rows(session, LogEvent)
    assert event.verification == Verification.UNVERIFIED
    first_step = rows(session, CallStep, CallStep.seq == 0)[0]
    assert first_step.raw["From"] == sip_from  # the whole caller ID stays in the evidence
