"""Moving evidence to the right visit: kept, superseded, both visits derived again, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ivr_gateway.config import KpiWindows
from ivr_gateway.db import Database
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    AuditEntry,
    Channel,
    LogEvent,
    LogKind,
    Verification,
)
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.visits.errors import ActionRefused
from ivr_gateway.visits.moves import move_actual_visit, move_log_events, move_targets
from ivr_gateway.visits.recording import LogRequest, LogResult, record_log_event
from tests.factories import make_adult, make_care_worker, make_planned_visit

KPI = KpiWindows()
EIGHT = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)  # GMT: London = UTC
LATER = EIGHT + timedelta(hours=3)


def _log(session: Session, care_worker_id: int, adult_id: int, at: datetime,
         kind: LogKind | None = None) -> LogResult:
    return record_log_event(session, LogRequest(
        channel=Channel.IVR, care_worker_id=care_worker_id, adult_id=adult_id, event_time=at,
        received_at=at, verification=Verification.CALLER_ID, source_sid=f"CA{at:%H%M}",
        kind=kind), KPI)


def _day(session: Session) -> dict[str, int]:
    """Joan has Amy at 08:00 (V1) and at 09:00 (V2); Edith has Amy at 10:00 (V3), Ben (V4)."""
    joan = make_adult(session, ref="A1")
    edith = make_adult(session, ref="A2", given_name="Edith", family_name="Clarke",
                       landlines=("+441134960003",))
    amy = make_care_worker(session, ref="C1", staff_number="1234")
    ben = make_care_worker(session, ref="C2", staff_number="2345", given_name="Ben")
    make_planned_visit(session, joan, [amy], start=EIGHT, ref="V1")
    make_planned_visit(session, joan, [amy], start=EIGHT + timedelta(hours=1), ref="V2")
    make_planned_visit(session, edith, [amy], start=EIGHT + timedelta(hours=2), ref="V3")
    make_planned_visit(session, make_adult(session, ref="A3", given_name="Olga",
                                           landlines=("+441134960009",)),
                       [ben], start=EIGHT + timedelta(hours=2), ref="V4")
    session.flush()
    return {"joan": joan.id, "edith": edith.id, "amy": amy.id, "ben": ben.id}


def _actuals(session: Session) -> dict[str | None, ActualVisit]:
    return {a.planned_visit.ref if a.planned_visit else None: a
            for a in session.scalars(select(ActualVisit))}


def test_a_log_in_matched_to_the_wrong_visit_of_the_same_home_moves_with_its_evidence_kept(
        session: Session) -> None:
    ids = _day(session)
    logged = _log(session, ids["amy"], ids["joan"], EIGHT + timedelta(minutes=25))
    assert logged.planned_visit_ref == "V1"  # nearest the 08:00, it says; it was the 09:00, early

    moved = move_log_events(session, [logged.log_event_id], "V2", "the 08:00 was cancelled "
                            "by the family last night", now=LATER, actor="office:cora")
    session.commit()

    original = session.get_one(LogEvent, logged.log_event_id)
    [new_id] = moved.new_log_event_ids
    new = session.get_one(LogEvent, new_id)
    assert original.superseded_by_id == new.id
    assert original.superseded_reason == ("moved by the office (office:cora) to visit V2: the "
                                          "08:00 was cancelled by the family last night")
    assert original.channel == Channel.IVR and original.source_sid == "CA0825"  # kept as it was
    assert (new.channel, new.kind, new.event_time) == (Channel.OFFICE, LogKind.IN,
                                                       EIGHT + timedelta(minutes=25))
    assert new.verification == Verification.CALLER_ID  # same home: the caller ID still proves it
    assert new.raw["moves"] == original.id and new.raw["by"] == "office:cora"
    actuals = _actuals(session)
    assert "V1" not in actuals  # the wrong visit lost its only evidence: nobody came at 08:00
    assert actuals["V2"].started_at == EIGHT + timedelta(minutes=25)
    assert actuals["V2"].state == ActualVisitState.OPEN
    assert actuals["V2"].in_verification == Verification.CALLER_ID
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "move_log_event")).all()
    assert sorted((a.entity, a.entity_ref) for a in audit) == [("planned_visit", "V1"),
                                                               ("planned_visit", "V2")]
    assert audit[0].detail["moved"] == ["V1", "V2"]
    keys = session.scalars(select(OutboxMessage.idempotency_key)).all()
    # The domain announces both visits and the change (visits/changes.py); the council renders.
    assert f"visit-changed:office-move:{new.id}" in keys
    assert f"visit-corrected:office-move:{new.id}" in keys


def test_moving_only_the_log_out_leaves_the_wrong_visit_open_and_closes_the_right_one(
        session: Session) -> None:
    ids = _day(session)
    _log(session, ids["amy"], ids["joan"], EIGHT + timedelta(minutes=2))
    _log(session, ids["amy"], ids["joan"], EIGHT + timedelta(minutes=32))
    # She logged in at Edith's at 10:00 by text: the office put it on V3 by hand...
    edith_in = _log(session, ids["amy"], ids["edith"], EIGHT + timedelta(hours=2))
    edith_out = _log(session, ids["amy"], ids["edith"], EIGHT + timedelta(hours=2, minutes=30))
    assert (edith_in.planned_visit_ref, edith_out.planned_visit_ref) == ("V3", "V3")
    # ... and move Edith's log-out to Joan's 09:00 (same carer, another client, that day).
    move_log_events(session, [edith_out.log_event_id], "V2", "she rang from Edith's for Joan",
                    now=LATER, actor="office:cora")
    actuals = _actuals(session)
    assert actuals["V3"].state == ActualVisitState.OPEN and actuals["V3"].ended_at is None
    assert actuals["V3"].started_at == EIGHT + timedelta(hours=2)
    assert actuals["V2"].state == ActualVisitState.CLOSED
    assert actuals["V2"].started_at is None
    assert actuals["V2"].out_verification == Verification.OFFICE  # another home: office vouches
    assert actuals["V1"].ended_at == EIGHT + timedelta(minutes=32)  # untouched


def test_an_unplanned_visit_is_linked_to_its_planned_visit_by_moving_all_its_evidence(
        session: Session) -> None:
    ids = _day(session)
    # Ben was sent to Joan's at 14:00 with no rota entry: unplanned.
    logged = _log(session, ids["ben"], ids["joan"], EIGHT + timedelta(hours=6))
    _log(session, ids["ben"], ids["joan"], EIGHT + timedelta(hours=6, minutes=30))
    assert logged.planned_visit_ref is None
    unplanned_id = logged.actual_visit_id
    with pytest.raises(ActionRefused, match="same client or of the same carer"):
        move_actual_visit(session, unplanned_id, "V3", "wrong", now=LATER, actor="office:cora")
    # Joan's 09:00 is offered (same client), Olga's with Ben at 10:00 too (same carer).
    offered = {t.planned_ref: t.because for t in move_targets(session, logged.log_event_id)}
    assert offered == {"V1": "same client", "V2": "same client", "V4": "same carer"}

    moved = move_actual_visit(session, unplanned_id, "V2", "Ben covered Joan's 09:00 late",
                              now=LATER, actor="office:cora")
    assert moved.from_label == f"unplanned visit {unplanned_id}"
    assert session.get(ActualVisit, unplanned_id) is None
    v2 = _actuals(session)["V2"]
    assert (v2.care_worker_id, v2.state) == (ids["ben"], ActualVisitState.CLOSED)
    assert v2.ended_at - v2.started_at == timedelta(minutes=30)  # type: ignore[operator]
    assert len(moved.new_log_event_ids) == 2
    refs = {(a.entity, a.entity_ref) for a in session.scalars(
        select(AuditEntry).where(AuditEntry.action == "move_log_event"))}
    assert refs == {("actual_visit", str(unplanned_id)), ("planned_visit", "V2")}


def test_a_move_needs_a_reason_and_an_event_moved_once_cannot_move_again(
        session: Session) -> None:
    ids = _day(session)
    logged = _log(session, ids["amy"], ids["joan"], EIGHT + timedelta(minutes=25))
    with pytest.raises(ActionRefused, match="Give the reason"):
        move_log_events(session, [logged.log_event_id], "V2", "oops", now=LATER, actor="o")
    move_log_events(session, [logged.log_event_id], "V2", "it was the 09:00", now=LATER,
                    actor="o")
    with pytest.raises(ActionRefused, match="moved already"):
        move_log_events(session, [logged.log_event_id], "V1", "back again", now=LATER,
                        actor="o")


@pytest.mark.postgres_only
def test_a_move_waits_for_the_carers_row_lock(database: Database) -> None:
    with database.sessionmaker() as setup:
        ids = _day(setup)
        logged = _log(setup, ids["amy"], ids["joan"], EIGHT + timedelta(minutes=25))
        setup.commit()
    # Another writer (a call of Amy's) holds her row; FOR NO KEY UPDATE lets the move's own
    # inserts' foreign-key checks through, so only the move's explicit lock can wait on it.
    with database.sessionmaker() as call, database.sessionmaker() as office:
        call.execute(text("SELECT id FROM care_workers WHERE id = :id FOR NO KEY UPDATE"),
                     {"id": ids["amy"]})
        office.execute(text("SET lock_timeout = '300ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            move_log_events(office, [logged.log_event_id], "V2", "it was the 09:00",
                            now=LATER, actor="office:cora")
        office.rollback()
        call.rollback()
