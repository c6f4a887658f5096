"""Corrections by the office: new, audited evidence, never an edit of what a carer keyed.

Setting or fixing a time adds a log event with channel ``office`` and verification ``office``
carrying the mandatory reason; a carer's event it replaces is kept and marked superseded (as the
carer's own press 9 does). The carer's row is locked first, as every log-event writer does
(recording.py), so a correction and the carer's own call or text for the same visit cannot
interleave. Each correction writes an audit entry and tells the council of the change.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    AuditEntry,
    CareWorker,
    Channel,
    ExceptionCode,
    LogEvent,
    LogKind,
    PlannedVisit,
    Verification,
    VisitException,
)
from ivr_gateway.visits.changes import record_visit_corrected
from ivr_gateway.visits.deadlines import expected_end
from ivr_gateway.visits.errors import ActionRefused
from ivr_gateway.visits.recording import lock_care_worker

CORRECTION_REACH = timedelta(hours=12)  # how far from the planned times a corrected time may be
MIN_REASON_LENGTH = 5


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_LENGTH:
        raise ActionRefused("Give the reason for the change: what happened and how you know "
                            "(it is kept with the visit for the council).")
    return reason[:1000]


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _to_minute(at: datetime | None) -> datetime | None:
    return at.replace(second=0, microsecond=0) if at is not None else None


def _audit_target(actual: ActualVisit, planned: PlannedVisit | None) -> tuple[str, str]:
    return ("planned_visit", planned.ref) if planned else ("actual_visit", str(actual.id))


def correct_visit_times(session: Session, *, care_worker_ref: str, log_in: datetime | None,
                        log_out: datetime | None, reason: str, now: datetime, actor: str,
                        planned_ref: str | None = None, actual_visit_id: int | None = None
                        ) -> list[int]:
    """Set or fix a carer's log-in and/or log-out time on a visit; returns the new event ids."""
    reason = _reason(reason)
    if log_in is None and log_out is None:
        raise ActionRefused("Give a log-in time, a log-out time, or both.")
    for label, at in (("log-in", log_in), ("log-out", log_out)):
        if at is not None and at > now + timedelta(minutes=1):
            raise ActionRefused(f"The {label} time is in the future; a correction records what "
                                "already happened.")
    care_worker = session.scalar(select(CareWorker).where(CareWorker.ref == care_worker_ref))
    if care_worker is None:
        raise ActionRefused(f"There is no care worker {care_worker_ref!r}.")
    # Before reading the carer's visits: a call or text of theirs waits until this commits.
    lock_care_worker(session, care_worker.id)
    planned: PlannedVisit | None = None
    actual: ActualVisit | None = None
    if planned_ref is not None:
        planned = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == planned_ref))
        if planned is None:
            raise ActionRefused(f"There is no planned visit {planned_ref!r}.")
        actual = session.scalars(
            select(ActualVisit)
            .where(ActualVisit.planned_visit_id == planned.id,
                   ActualVisit.care_worker_id == care_worker.id)
            .order_by(ActualVisit.id.desc())).first()
        if actual is None and care_worker not in planned.care_workers:
            raise ActionRefused(f"{care_worker.given_name} {care_worker.family_name} is not on "
                                "this visit: reassign the visit to them first.")
        low = planned.planned_start - CORRECTION_REACH
        high = planned.planned_end + CORRECTION_REACH
        for label, at in (("log-in", log_in), ("log-out", log_out)):
            if at is not None and not low <= at <= high:
                raise ActionRefused(f"The {label} time is more than 12 hours from the planned "
                                    "visit; check the date.")
    elif actual_visit_id is not None:
        actual = session.get(ActualVisit, actual_visit_id)
        if actual is None or actual.care_worker_id != care_worker.id:
            raise ActionRefused("There is no such visit for this care worker.")
    else:
        raise ActionRefused("Say which visit to correct.")

    # The form starts from the current times: a time sent back as it stands (to the minute a
    # form can show) is not a correction, and must not supersede the carer's own evidence.
    if actual is not None:
        if log_in is not None and log_in == _to_minute(actual.started_at):
            log_in = None
        if log_out is not None and log_out == _to_minute(actual.ended_at):
            log_out = None
        if log_in is None and log_out is None:
            raise ActionRefused("Those are the times already recorded: change the log-in or "
                                "the log-out time.")
    new_in = log_in or (actual.started_at if actual else None)
    new_out = log_out or (actual.ended_at if actual else None)
    if new_in is not None and new_out is not None and new_out <= new_in:
        raise ActionRefused("The log-out must be after the log-in.")

    if actual is None:
        assert planned is not None
        actual = ActualVisit(care_worker_id=care_worker.id, adult_id=planned.adult_id,
                             planned_visit_id=planned.id, state=ActualVisitState.OPEN,
                             started_at=None, ended_at=None,
                             match_reason=f"set by the office ({actor}): {reason}",
                             created_at=now)
        session.add(actual)
        session.flush()
    before = {"log_in": _iso(actual.started_at), "log_out": _iso(actual.ended_at)}

    event_ids: list[int] = []
    for kind, at in ((LogKind.IN, log_in), (LogKind.OUT, log_out)):
        if at is None:
            continue
        replaced = session.scalars(
            select(LogEvent)
            .where(LogEvent.actual_visit_id == actual.id, LogEvent.kind == kind,
                   LogEvent.superseded_by_id.is_(None))
            .order_by(LogEvent.id.desc())).first()
        event = LogEvent(channel=Channel.OFFICE, kind=kind, care_worker_id=care_worker.id,
                         adult_id=actual.adult_id, planned_visit_id=actual.planned_visit_id,
                         actual_visit_id=actual.id, event_time=at, received_at=now,
                         verification=Verification.OFFICE, source_sid=None, seq=1,
                         from_number=None,
                         raw={"reason": reason, "by": actor,
                              "corrects": replaced.id if replaced else None})
        session.add(event)
        session.flush()
        event_ids.append(event.id)
        if replaced is not None:
            replaced.superseded_by_id = event.id
            replaced.superseded_reason = f"corrected by the office ({actor}): {reason}"
        resolves = ExceptionCode.MISSING_LOG_IN if kind == LogKind.IN \
            else ExceptionCode.MISSING_LOG_OUT
        for exception in session.scalars(select(VisitException).where(
                VisitException.actual_visit_id == actual.id, VisitException.code == resolves,
                VisitException.reviewed_at.is_(None))):
            exception.reviewed_at = now
            exception.reviewed_by = actor[:100]
        if kind == LogKind.IN:
            actual.started_at = at
            actual.in_verification = Verification.OFFICE
            if planned is not None or actual.planned_visit is not None:
                booked = planned or actual.planned_visit
                assert booked is not None
                actual.expected_end_at = expected_end(booked.planned_start,
                                                      booked.planned_end, at)
        else:
            actual.ended_at = at
            actual.out_verification = Verification.OFFICE
            actual.state = ActualVisitState.CLOSED

    entity, ref = _audit_target(actual, planned)
    session.add(AuditEntry(at=now, actor=actor[:100], action="correct_times", entity=entity,
                           entity_ref=ref, detail={
                               "care_worker_ref": care_worker.ref, "reason": reason,
                               "before": before,
                               "after": {"log_in": _iso(actual.started_at),
                                         "log_out": _iso(actual.ended_at)},
                               "log_event_ids": event_ids}))
    session.flush()
    # The council keeps the calls as captured and hears of the office's change separately.
    record_visit_corrected(session, change_id=f"office-correction:{event_ids[0]}", changed_by=actor,
                       changed_at=now, reason_code="office_correction", memo=reason,
                       changes={"log_in": [before["log_in"], _iso(actual.started_at)],
                                "log_out": [before["log_out"], _iso(actual.ended_at)]},
                       actual_visit_id=actual.id)
    return event_ids


