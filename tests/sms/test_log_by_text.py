"""A carer logs in and out by text with a code from the client's home: token or code sheet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from ivr_gateway.api.models import ApiToken
from ivr_gateway.clock import FixedClock
from ivr_gateway.hashing import hash_api_token
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    CareWorker,
    Channel,
    LogEvent,
    LogKind,
    PlannedVisit,
    Verification,
)
from ivr_gateway.sms.codes import step_start, time_step
from ivr_gateway.sms.models import InboundText, SheetCode, TextStatus, VisitCodeToken
from tests.api.conftest import TOKEN
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import count, rows
from tests.sms.texting import add_sheet, add_token, code_at, text
from tests.twilio_client import TwilioClient

AMY = "+447911123450"
BEN = "+447911123452"
NINE = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)  # 09:00 GMT = 09:00 London


def _rota(session: Session, *, carers: int = 1, language: str = "en"
          ) -> tuple[Adult, list[CareWorker], PlannedVisit]:
    adult = make_adult(session, given_name="Joan", family_name="Smith", landlines=())
    team = [make_care_worker(session, staff_number="1234", mobiles=(AMY,), language=language)]
    if carers == 2:
        team.append(make_care_worker(session, staff_number="2345", given_name="Ben",
                                     family_name="Taylor", mobiles=(BEN,)))
    visit = make_planned_visit(session, adult, team, start=NINE, minutes=30, ref="V1")
    session.commit()
    return adult, team, visit


def test_token_code_logs_in_and_reads_back_time_and_initials(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    adult, _team, _visit = _rota(session)
    add_token(session, adult)
    session.commit()
    clock.set(NINE + timedelta(minutes=2, seconds=10))
    reply = text(twilio, AMY, f"IN {code_at(clock.now())}")
    assert reply.text == "Logged in 09:02 for J.S. Text OUT and the code when you leave."
    event = rows(session, LogEvent)[0]
    assert (event.channel, event.kind, event.verification) == (
        Channel.SMS, LogKind.IN, Verification.TOKEN_CODE)
    # The event time is the code's own time step, not the moment the text reached us.
    assert event.event_time == step_start(time_step(clock.now(), 30), 30)
    assert event.raw["token_serial"] == "T1" and event.raw["delay_seconds"] == 10
    assert event.source_sid and event.source_sid.startswith("SM")
    stored = rows(session, InboundText)[0]
    assert (stored.status, stored.log_event_id, stored.reply) == (
        TextStatus.LOGGED, event.id, reply.text)


def test_out_with_a_new_code_logs_out_with_duration(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    adult, _team, _visit = _rota(session)
    add_token(session, adult)
    session.commit()
    clock.set(NINE + timedelta(minutes=1))
    text(twilio, AMY, f"in{code_at(clock.now())}")
    clock.set(NINE + timedelta(minutes=32))
    reply = text(twilio, AMY, f"Out {code_at(clock.now())[:3]} {code_at(clock.now())[3:]}")
    assert reply.text == "Logged out 09:32 from J.S., 31 min. Thank you."
    visit = rows(session, ActualVisit)[0]
    assert visit.state == ActualVisitState.CLOSED
    assert (visit.in_verification, visit.out_verification) == (
        Verification.TOKEN_CODE, Verification.TOKEN_CODE)


def test_out_within_a_minute_of_in_says_under_a_minute_not_zero(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    adult, _team, _visit = _rota(session)
    add_token(session, adult)
    session.commit()
    clock.set(NINE + timedelta(minutes=1))
    text(twilio, AMY, f"in{code_at(clock.now())}")
    clock.set(NINE + timedelta(minutes=1, seconds=40))
    reply = text(twilio, AMY, f"OUT {code_at(clock.now())}")
    assert reply.text == "Logged out 09:01 from J.S., under 1 min. Thank you."


def test_in_texted_again_minutes_later_keeps_the_visit_and_its_first_time(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    # No reply reached Amy's phone, so she texts IN again with a fresh code: still one visit,
    # still begun at 09:01, not closed as a missing log-out and reopened as unplanned.
    adult, _team, visit = _rota(session)
    add_token(session, adult)
    session.commit()
    clock.set(NINE + timedelta(minutes=1))
    text(twilio, AMY, f"IN {code_at(clock.now())}")
    clock.set(NINE + timedelta(minutes=4))
    reply = text(twilio, AMY, f"IN {code_at(clock.now())}")
    assert reply.text.startswith("Logged in 09:01 for J.S.")
    [actual] = rows(session, ActualVisit)
    assert (actual.state, actual.planned_visit_id) == (ActualVisitState.OPEN, visit.id)
    assert actual.started_at == step_start(time_step(NINE + timedelta(minutes=1), 30), 30)
    events = rows(session, LogEvent)
    assert [(e.kind, e.actual_visit_id) for e in events] == [
        (LogKind.IN, actual.id), (LogKind.IN, actual.id)]  # both texts kept as evidence


def test_bare_code_works_in_and_out_out_as_calls_do(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    adult, _team, _visit = _rota(session)
    add_token(session, adult)
    session.commit()
    clock.set(NINE)
    assert text(twilio, AMY, code_at(clock.now())).text.startswith("Logged in 09:00")
    clock.set(NINE + timedelta(minutes=30))
    assert text(twilio, AMY, code_at(clock.now())).text.startswith("Logged out 09:30")
    assert [e.kind for e in rows(session, LogEvent)] == [LogKind.IN, LogKind.OUT]


def test_sheet_code_logs_in_then_out_with_arrival_time_and_is_spent(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    adult, _team, _visit = _rota(session)
    sheet = add_sheet(session, adult, NINE - timedelta(days=3))
    session.commit()
    clock.set(NINE + timedelta(minutes=4, seconds=40))
    first, second = sheet.codes[0], sheet.codes[1]
    reply = text(twilio, AMY, f"IN {first[:4]} {first[4:]}")
    assert reply.text == "Logged in 09:04 for J.S. Text OUT and the code when you leave."
    clock.set(NINE + timedelta(minutes=35))
    assert text(twilio, AMY, f"OUT {second}").text.startswith("Logged out 09:35 from J.S., 30 min")
    events = rows(session, LogEvent)
    assert [e.verification for e in events] == [Verification.SHEET_CODE] * 2
    assert events[0].event_time == NINE + timedelta(minutes=4, seconds=40)  # arrival time
    assert events[0].raw["sheet_number"] == sheet.sheet_number
    used = rows(session, SheetCode, SheetCode.used_at.is_not(None))
    assert [c.position for c in used] == [1, 2] and all(c.inbound_text_id for c in used)


def test_sheet_codes_are_stored_hashed_never_in_clear(
        session: Session) -> None:
    adult, _team, _visit = _rota(session)
    sheet = add_sheet(session, adult, NINE)
    session.commit()
    stored = {c.code_hash for c in rows(session, SheetCode)}
    assert len(stored) == len(sheet.codes)
    assert not set(sheet.codes) & stored


def test_double_up_by_text_two_carers_the_same_token_code(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    adult, _team, _visit = _rota(session, carers=2)
    add_token(session, adult)
    session.commit()
    clock.set(NINE + timedelta(minutes=1))
    code = code_at(clock.now())
    assert text(twilio, AMY, f"IN {code}").text.startswith("Logged in 09:01 for J.S.")
    assert text(twilio, BEN, f"IN {code}").text.startswith("Logged in 09:01 for J.S.")
    visits = rows(session, ActualVisit)
    assert len(visits) == 2 and {v.planned_visit_id for v in visits} == {_visit.id}


def test_drift_of_the_token_clock_is_learnt_and_followed(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    adult, _team, _visit = _rota(session)
    add_token(session, adult)
    session.commit()
    clock.set(NINE)
    # The fob's clock runs one step ahead: accepted (window), and learnt.
    text(twilio, AMY, f"IN {code_at(clock.now(), ahead_steps=1)}")
    assert rows(session, VisitCodeToken)[0].drift_steps == 1
    # Later it is two steps ahead: outside the first window, inside the learnt one.
    clock.set(NINE + timedelta(minutes=30))
    reply = text(twilio, AMY, f"OUT {code_at(clock.now(), ahead_steps=2)}")
    assert reply.text.startswith("Logged out"), reply.text
    assert rows(session, VisitCodeToken)[0].drift_steps == 2


def test_polish_carer_gets_polish_replies_in_gsm7(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    adult, _team, _visit = _rota(session, language="pl")
    add_token(session, adult)
    session.commit()
    clock.set(NINE + timedelta(minutes=3))
    reply = text(twilio, AMY, f"IN {code_at(clock.now())}")
    assert reply.text == "Zalogowano 09:03 u J.S. Przy wyjsciu wyslij OUT i kod."


def test_same_message_sid_twice_changes_nothing(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    adult, _team, _visit = _rota(session)
    add_token(session, adult)
    session.commit()
    clock.set(NINE + timedelta(minutes=1))
    code = code_at(clock.now())
    first = text(twilio, AMY, f"IN {code}", message_sid="SM" + "7" * 32)
    clock.advance(seconds=40)  # Twilio's retry comes a little later
    again = text(twilio, AMY, f"IN {code}", message_sid="SM" + "7" * 32)
    assert again.text == first.text
    assert count(session, LogEvent) == 1 and count(session, InboundText) == 1


def test_unsigned_text_is_refused_and_nothing_is_stored(
        twilio: TwilioClient, session: Session) -> None:
    _rota(session)
    response = twilio.post("/twilio/sms", {"MessageSid": "SM1", "From": AMY, "Body": "IN 1"},
                           signature="forged")
    assert response.status_code == 403
    assert count(session, InboundText) == 0


def test_the_visit_shows_in_the_api_with_how_presence_was_verified(
        twilio: TwilioClient, session: Session, clock: FixedClock, client: FlaskClient
) -> None:
    adult, _team, _visit = _rota(session)
    add_token(session, adult)
    sheet = add_sheet(session, adult, NINE)
    session.add(ApiToken(name="r", token_hash=hash_api_token(TOKEN), created_at=NINE))
    session.commit()
    clock.set(NINE + timedelta(minutes=1))
    text(twilio, AMY, f"IN {code_at(clock.now())}")
    clock.set(NINE + timedelta(minutes=31))
    text(twilio, AMY, f"OUT {sheet.codes[0]}")
    body = client.get("/api/v1/visits?date=2026-01-13",
                      headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    actual = body["visits"][0]["actuals"][0]
    assert (actual["in_verification"], actual["out_verification"]) == ("token_code",
                                                                      "sheet_code")
    assert body["visits"][0]["outcome"] == "completed"
