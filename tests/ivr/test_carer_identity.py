"""Who is calling: carer number and PIN, three tries a call, and the lockout across calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.models import CareWorker, LogEvent, PinFailure
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import PlayedCall, count, new_call_sid, play, rows
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
NOT_RECOGNISED = "Carer number or PIN not recognised."
GIVE_UP = "Carer number or PIN not recognised. Please ring the office."
LOCKED = ("This carer number is locked for 15 minutes after wrong PINs. "
          "Please ring the office.")


def _rota(session: Session) -> CareWorker:
    adult = make_adult(session, landlines=(LANDLINE,))
    carer = make_care_worker(session, staff_number="1234", pin="5678")
    make_planned_visit(session, adult, [carer], start=NINE_AM)
    session.commit()
    return carer


def test_unknown_carer_number_is_refused_and_asked_again(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session)
    call = play(twilio, LANDLINE, "9999", "5678")
    assert call.last is not None
    assert call.last.said() == [NOT_RECOGNISED, "Carer number."]
    assert call.last.gather() is not None
    # The same words as a wrong PIN: the caller cannot tell which carer numbers exist.
    [failure] = rows(session, PinFailure)
    assert (failure.staff_number, failure.call_sid) == ("9999", call.call_sid)
    assert count(session, LogEvent) == 0


def test_wrong_pin_three_times_in_one_call_says_goodbye(
    twilio: TwilioClient, session: Session
) -> None:
    carer = _rota(session)
    call = play(twilio, LANDLINE, "1234", "0000", "1234", "1111")
    assert call.last is not None and call.last.said() == [NOT_RECOGNISED, "Carer number."]
    call.press("1234")
    call.press("2222")
    assert call.ended
    assert call.last.said() == [GIVE_UP]
    assert count(session, PinFailure, PinFailure.call_sid == call.call_sid) == 3
    assert count(session, LogEvent) == 0
    [stored] = rows(session, CareWorker, CareWorker.id == carer.id)
    assert stored.locked_until is None  # three is not five


def test_wrong_pin_then_right_pin_logs_in(twilio: TwilioClient, session: Session) -> None:
    _rota(session)
    call = play(twilio, LANDLINE, "1234", "0000", "1234", "5678")
    assert call.heard[-1].startswith("Logged in at 9:00")
    assert count(session, LogEvent) == 1
    assert count(session, PinFailure) == 1


def test_five_failures_in_fifteen_minutes_lock_the_carer_across_calls(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    carer = _rota(session)
    first = play(twilio, LANDLINE, "1234", "0000", "1234", "0000", "1234", "0000")
    assert first.heard[-1] == GIVE_UP
    clock.advance(minutes=5)
    second = play(twilio, LANDLINE, "1234", "0000", "1234", "0000")
    assert second.ended
    assert second.heard[-1] == LOCKED
    [stored] = rows(session, CareWorker, CareWorker.id == carer.id)
    assert stored.locked_until == clock.now() + timedelta(minutes=15)
    assert count(session, PinFailure) == 5

    # Even the right PIN is refused while locked, and keying it is not another failure.
    third = play(twilio, LANDLINE, "1234", "5678")
    assert third.ended and third.heard[-1] == LOCKED
    assert count(session, LogEvent) == 0
    assert count(session, PinFailure) == 5


def test_lock_says_the_minutes_left(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session)
    play(twilio, LANDLINE, "1234", "0000", "1234", "0000", "1234", "0000")
    play(twilio, LANDLINE, "1234", "0000", "1234", "0000")
    clock.advance(minutes=10, seconds=30)
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.heard[-1] == ("This carer number is locked for 5 minutes after wrong PINs. "
                              "Please ring the office.")


def test_lock_lifts_after_fifteen_minutes(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session)
    play(twilio, LANDLINE, "1234", "0000", "1234", "0000", "1234", "0000")
    play(twilio, LANDLINE, "1234", "0000", "1234", "0000")
    clock.advance(minutes=14, seconds=59)
    assert play(twilio, LANDLINE, "1234", "5678").heard[-1] == (
        "This carer number is locked for 1 minute after wrong PINs. Please ring the office.")
    clock.advance(seconds=1)
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.heard[-1].startswith("Logged in at 9:15 for J. S.")
    assert count(session, LogEvent) == 1


def test_failures_older_than_fifteen_minutes_do_not_count_towards_the_lock(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    carer = _rota(session)
    play(twilio, LANDLINE, "1234", "0000", "1234", "0000", "1234", "0000")
    clock.advance(minutes=16)
    call = play(twilio, LANDLINE, "1234", "0000", "1234", "0000")
    assert call.last is not None and call.last.said() == [NOT_RECOGNISED, "Carer number."]
    [stored] = rows(session, CareWorker, CareWorker.id == carer.id)
    assert stored.locked_until is None


def _transcript(twilio: TwilioClient, staff_number: str, *pins: str) -> list[bytes]:
    """Every TwiML answer of one call keying the carer number before each PIN."""
    call = PlayedCall(twilio, new_call_sid(), LANDLINE)
    answers = [call.start().response.get_data()]
    for pin in pins:
        if call.ended:
            break
        answers.append(call.press(staff_number).response.get_data())
        answers.append(call.press(pin).response.get_data())
    return answers


def test_an_unknown_carer_number_locks_exactly_as_a_real_one_so_pins_tell_nothing(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    carer = _rota(session)
    real, unknown = "1234", "9999"
    steps: list[tuple[timedelta, tuple[str, ...], str]] = [
        (timedelta(0), ("0000", "0001", "0002"), GIVE_UP),  # three wrong: goodbye, not locked
        (timedelta(minutes=5), ("0003", "0004"), LOCKED),  # the fifth in 15 minutes locks
        (timedelta(minutes=10, seconds=30), ("5678",), "This carer number is locked for 5 "
         "minutes after wrong PINs. Please ring the office."),  # even the right PIN
        (timedelta(minutes=4, seconds=29), ("0005",), "This carer number is locked for 1 "
         "minute after wrong PINs. Please ring the office."),
        (timedelta(seconds=1), ("0006",), NOT_RECOGNISED),  # lifted: a wrong PIN is a retry
    ]
    for wait, pins, last_heard in steps:
        clock.advance(seconds=wait.total_seconds())
        heard_by_real = _transcript(twilio, real, *pins)
        heard_by_unknown = _transcript(twilio, unknown, *pins)
        assert heard_by_real == heard_by_unknown  # byte for byte, every answer of the call
        said = [el.text for el in ElementTree.fromstring(heard_by_real[-1]).iter("Say")]
        assert said[0] == last_heard
    # Both numbers kept the same count of failures (none while locked); nobody was invented.
    assert count(session, PinFailure, PinFailure.staff_number == real) == count(
        session, PinFailure, PinFailure.staff_number == unknown) == 6
    assert [c.staff_number for c in rows(session, CareWorker)] == [real]

    # The real carer, locked out a while ago, logs in again with the right PIN.
    clock.advance(minutes=1)
    call = play(twilio, LANDLINE, real, "5678")
    assert call.heard[-1].startswith("Logged in at 9:21 for J. S.")
    assert count(session, LogEvent, LogEvent.care_worker_id == carer.id) == 1


def test_unknown_carer_number_never_locks_a_real_carer(
    twilio: TwilioClient, session: Session
) -> None:
    carer = _rota(session)
    play(twilio, LANDLINE, "9999", "0000", "9999", "0000", "9999", "0000")
    assert play(twilio, LANDLINE, "9999", "0000", "9999", "0000").heard[-1] == LOCKED
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.heard[-1].startswith("Logged in at")
    [stored] = rows(session, CareWorker, CareWorker.id == carer.id)
    assert stored.locked_until is None
