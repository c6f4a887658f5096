"""At a landline shared by clients, a carer who picked the wrong client says so with 8.

Real signed webhook requests, TwiML parsed as XML, a real database: the event moves to the other
client's visit and nothing is left on the wrong client's record.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.db import Database
from ivr_gateway.ecc.events import render_visit_records
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    AuditEntry,
    ExceptionCode,
    LogEvent,
    LogKind,
    Verification,
    VisitException,
)
from ivr_gateway.outbox.models import OutboxMessage
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import exception_codes, play, rows
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


def _household(session: Session, *, third: bool = False) -> tuple[Adult, Adult]:
    """Joan and Mary Smith share a landline; Amy (1234) is due at Mary's at 9."""
    joan = make_adult(session, given_name="Joan", family_name="Smith", landlines=(LANDLINE,),
                      ref="A-JOAN")
    mary = make_adult(session, given_name="Mary", family_name="Smith", landlines=(LANDLINE,),
                      ref="A-MARY")
    if third:
        make_adult(session, given_name="Alan", family_name="Smith", landlines=(LANDLINE,),
                   ref="A-ALAN")
    carer = make_care_worker(session, staff_number="1234", pin="5678", given_name="Amy",
                             family_name="Jones")
    make_planned_visit(session, mary, [carer], start=NINE_AM, ref="V-MARY")
    session.commit()
    return joan, mary


def _council_changes(database: Database) -> list[dict[str, object]]:
    with database.unit_of_work() as db:
        while render_visit_records(db, datetime(2100, 1, 1, tzinfo=UTC)):
            db.flush()
        return [m.payload["data"] for m in db.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key.like("ecc:visit_change:%"))
            .order_by(OutboxMessage.id))]


def test_the_read_back_at_a_shared_landline_offers_the_other_client_by_initials(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _household(session)
    clock.set(NINE_AM + timedelta(minutes=1))
    call = play(twilio, LANDLINE, "1", "1234", "5678")  # Joan chosen; Amy is with Mary
    assert call.heard[-1] == ("Logged in at 9:01 for J. S. This visit is not on your rota; the "
                              "office will check. Press 9 if wrong, 8 if you are with M. S.")
    assert "Mary" not in " ".join(call.heard)  # initials only, never a name


def test_press_8_moves_a_log_in_to_the_other_clients_visit_leaving_nothing_on_the_wrong_one(
    twilio: TwilioClient, session: Session, clock: FixedClock, database: Database
) -> None:
    joan, mary = _household(session)
    clock.set(NINE_AM + timedelta(minutes=1))
    call = play(twilio, LANDLINE, "1", "1234", "5678")
    clock.set(NINE_AM + timedelta(minutes=1, seconds=20))
    call.press("8")

    assert call.ended and call.last is not None
    assert call.last.verbs() == ["Say", "Hangup"]
    assert call.heard[-1] == "Changed. Logged in at 9:01 for M. S."
    # The first event stays as evidence, superseded; the new one is Mary's, at the call's time.
    first, second = rows(session, LogEvent)
    assert (first.adult_id, first.superseded_by_id) == (joan.id, second.id)
    assert "it was for M.S., not J.S." in (first.superseded_reason or "").replace(". ", ".")
    assert (second.adult_id, second.kind, second.verification, second.event_time) == (
        mary.id, LogKind.IN, Verification.CALLER_ID, first.event_time)
    # Nothing left on Joan's record: no visit, no exception; Mary's planned visit has it.
    [visit] = rows(session, ActualVisit)
    assert visit.adult_id == mary.id and visit.planned_visit is not None
    assert visit.planned_visit.ref == "V-MARY" and visit.state == ActualVisitState.OPEN
    assert rows(session, ActualVisit, ActualVisit.adult_id == joan.id) == []
    assert exception_codes(session) == [ExceptionCode.CARER_CORRECTED_CLIENT]
    [flag] = rows(session, VisitException)
    assert flag.actual_visit_id == visit.id
    # Audited on both visits as the carer's own correction.
    audits = rows(session, AuditEntry, AuditEntry.action == "correct_client")
    assert {a.actor for a in audits} == {"ivr:Amy Jones"}
    assert audits[0].detail["moved"][1] == "V-MARY"
    assert audits[0].detail["client"] == ["A-JOAN", "A-MARY"]
    # The council hears it as a visit change made by the carer.
    [change] = _council_changes(database)
    assert change["reason_code"] == "carer_correction"
    assert change["change_made_by"] == "ivr:Amy Jones"
    assert change["changes"] == {"client": ["A-JOAN", "A-MARY"],
                                 "visit": [audits[0].detail["moved"][0], "V-MARY"]}


def test_press_8_after_a_wrong_log_in_that_closed_a_visit_turns_it_into_that_visits_log_out(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan, mary = _household(session)
    clock.set(NINE_AM + timedelta(minutes=2))
    play(twilio, LANDLINE, "2", "1234", "5678")  # logged in at Mary's, rightly
    clock.set(NINE_AM + timedelta(minutes=40))
    call = play(twilio, LANDLINE, "1", "1234", "5678")  # leaving, Joan keyed by mistake
    assert call.heard[-1].startswith("Logged in at 9:40 for J. S.")  # a log-in at Joan's
    assert rows(session, ActualVisit, ActualVisit.adult_id == mary.id)[0].state == \
        ActualVisitState.MISSING_LOG_OUT
    call.press("8")

    assert call.heard[-1] == "Changed. Logged out at 9:40 from M. S."
    [visit] = rows(session, ActualVisit)  # Joan's visit is gone; Mary's is closed, whole
    assert (visit.adult_id, visit.state) == (mary.id, ActualVisitState.CLOSED)
    assert visit.ended_at is not None
    assert ExceptionCode.MISSING_LOG_OUT not in exception_codes(session)
    standing = rows(session, LogEvent, LogEvent.superseded_by_id.is_(None))
    assert [(e.adult_id, e.kind) for e in standing] == [(mary.id, LogKind.IN),
                                                        (mary.id, LogKind.OUT)]
    assert joan.id not in {v.adult_id for v in rows(session, ActualVisit)}


def test_with_three_clients_on_the_landline_8_asks_which_other_client(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _joan, mary = _household(session, third=True)  # choices: 1 Alan, 2 Joan, 3 Mary
    clock.set(NINE_AM + timedelta(minutes=1))
    call = play(twilio, LANDLINE)
    assert call.heard == ["Press 1 for A. S., 2 for J. S., 3 for M. S."]
    call.press("1")
    call.press("1234")
    call.press("5678")
    assert call.heard[-1].endswith("Press 9 if wrong, 8 for another client.")
    call.press("8")
    assert call.heard[-1] == "Press 2 for J. S., 3 for M. S."  # the digits heard at the start
    call.press("1")  # Alan is the client already chosen: not a choice now
    assert call.last is not None and call.last.said() == [
        "Not a choice.", "Press 2 for J. S., 3 for M. S."]
    call.press("3")
    assert call.heard[-1] == "Changed. Logged in at 9:01 for M. S."
    [visit] = rows(session, ActualVisit)
    assert visit.adult_id == mary.id and visit.planned_visit_id is not None


def test_at_a_one_client_landline_the_read_back_has_no_8_and_8_changes_nothing(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    adult = make_adult(session, given_name="Cora", family_name="Ashby", landlines=(LANDLINE,))
    carer = make_care_worker(session, staff_number="1234", pin="5678")
    make_planned_visit(session, adult, [carer], start=NINE_AM, ref="V1")
    session.commit()
    clock.set(NINE_AM + timedelta(minutes=1))
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.heard[-1] == "Logged in at 9:01 for C. A. Press 9 if wrong."
    call.press("8")
    assert call.heard[-1] == "Goodbye."
    [event] = rows(session, LogEvent)
    assert event.superseded_by_id is None and event.adult_id == adult.id


def test_the_office_reads_the_carers_correction_in_words(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    from ivr_gateway.ivr.models import CallStep
    from ivr_gateway.office.wording import CallParty, call_step_sentence

    _household(session)
    clock.set(NINE_AM + timedelta(minutes=1))
    play(twilio, LANDLINE, "1", "1234", "5678", "8")
    steps = rows(session, CallStep)
    party = CallParty("Amy Jones", "Mary Smith", frozenset({LANDLINE}))
    assert call_step_sentence(steps[-1], party) == (
        "Pressed 8 after the log-in read-back: it was the other client's visit")


def test_three_wrong_choices_after_8_change_nothing_and_say_so(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    joan, _mary = _household(session, third=True)  # choices: 1 Alan, 2 Joan, 3 Mary
    clock.set(NINE_AM + timedelta(minutes=1))
    call = play(twilio, LANDLINE, "2", "1234", "5678", "8", "7", "2", "0")  # 2: Joan herself
    assert call.ended and call.heard[-1] == "Nothing changed. Please ring the office."
    [event] = rows(session, LogEvent)
    assert event.adult_id == joan.id and event.superseded_by_id is None
    [visit] = rows(session, ActualVisit)
    assert visit.adult_id == joan.id
