"""What changed, as outbox rows the domain owns: adapters subscribe to these kinds.

The domain knows no adapter (DESIGN.md section 4): it does not render council records or call
anyone. It writes one cheap row in the caller's transaction saying what changed, so the change
is announced if and only if it commits; whoever needs to hear of it reads that kind of row later
(today the council package: ivr_gateway.ecc.events renders its records from them in the relay).

Kinds:
- ``visit_changed``: these actual visits of one carer changed (a log event, a carer's
  correction). One ordering key per carer, so a carer's changes are handled in the order made.
- ``visit_corrected``: a person corrected a visit (office corrections, reason codes), with who,
  why and what; it follows the carer's earlier changes in the same order.
- ``rota_changed``: an adult, a care worker or a planned visit of the rota changed.

The same calls append to the change feed (table visit_changes, read by visits/feed.py) that
rostering systems follow through /api/v1/changes and webhooks: one entry per log event, per
actual visit it changed, per correction, reason code and planned-visit change, in the writer's
transaction, so an entry exists if and only if the change committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import BigInteger, Text, cast, func, insert, select
from sqlalchemy.orm import Session

from ivr_gateway.models import ActualVisit, Adult, CareWorker, LogEvent, PlannedVisit, VisitStatus
from ivr_gateway.outbox.service import enqueue, enqueue_many
from ivr_gateway.visits.models import VisitChange

VISIT_CHANGED = "visit_changed"
VISIT_CORRECTED = "visit_corrected"
ROTA_CHANGED = "rota_changed"
CHANGE_KINDS = (VISIT_CHANGED, VISIT_CORRECTED, ROTA_CHANGED)

RotaRecord = Literal["adult", "care_worker", "planned_visit"]

# The change feed's entry types (also the webhook event types).
LOG_EVENT_RECORDED = "log_event.recorded"
ACTUAL_VISIT_CHANGED = "actual_visit.changed"
VISIT_CORRECTED_ENTRY = "visit.corrected"
REASON_CODE_RECORDED = "reason_code.recorded"
PLANNED_VISIT_CHANGED = "planned_visit.changed"
PLANNED_VISIT_CANCELLED = "planned_visit.cancelled"
FEED_TYPES = (LOG_EVENT_RECORDED, ACTUAL_VISIT_CHANGED, VISIT_CORRECTED_ENTRY,
              REASON_CODE_RECORDED, PLANNED_VISIT_CHANGED, PLANNED_VISIT_CANCELLED)


def _append_feed(session: Session, now: datetime, type_: str, *,
                 planned_visit: PlannedVisit | None = None, actual_visit_id: int | None = None,
                 log_event_id: int | None = None, care_worker_id: int | None = None,
                 planned_visit_ref: str | None = None, detail: dict[str, Any] | None = None
                 ) -> None:
    """Append one entry to the change feed in the caller's transaction."""
    planned_visit_id = planned_visit.id if planned_visit is not None else None
    if planned_visit_id is None and actual_visit_id is not None:
        # The id only: the feed reads the planned visit (and its ref) when it shows the entry,
        # so a carer's log-in costs no extra read of planned_visits here.
        actual = session.get(ActualVisit, actual_visit_id)
        planned_visit_id = actual.planned_visit_id if actual is not None else None
    if planned_visit is None and planned_visit_id is None and planned_visit_ref is not None:
        planned_visit = session.scalar(select(PlannedVisit)
                                       .where(PlannedVisit.ref == planned_visit_ref))
    # PostgreSQL: the writer's own transaction id orders the feed (visits/feed.py says why);
    # SQLite has one writer at a time, so the id alone does.
    xact_id: Any = (cast(cast(func.pg_current_xact_id(), Text), BigInteger)
                    if session.get_bind().dialect.name == "postgresql" else 0)
    session.execute(insert(VisitChange).values(
        xact_id=xact_id, type=type_,
        planned_visit_ref=planned_visit.ref if planned_visit is not None else planned_visit_ref,
        planned_visit_id=planned_visit.id if planned_visit is not None else planned_visit_id,
        actual_visit_id=actual_visit_id, log_event_id=log_event_id,
        care_worker_id=care_worker_id, detail=detail or {}, recorded_at=now))


def carer_ordering_key(care_worker_id: int) -> str:
    """One carer's changes are handled one at a time, oldest first."""
    return f"visit-changed:carer:{care_worker_id}"


def record_visit_changed(session: Session, care_worker_id: int,
                         actual_visit_ids: Iterable[int], now: datetime, source: str) -> bool:
    """Announce that these visits of a carer changed; `source` (e.g. the log event) makes it
    idempotent. False if there was nothing to announce or it was announced already."""
    ids = sorted(set(actual_visit_ids))
    if not ids:
        return False
    announced = enqueue(session, kind=VISIT_CHANGED, idempotency_key=f"visit-changed:{source}",
                        payload={"care_worker_id": care_worker_id, "actual_visit_ids": ids},
                        now=now, ordering_key=carer_ordering_key(care_worker_id))
    if announced:
        event_visit: int | None = None
        if source.startswith("log-event:"):
            event = session.get(LogEvent, int(source.removeprefix("log-event:")))
            if event is not None:
                event_visit = event.actual_visit_id
                _append_feed(session, now, LOG_EVENT_RECORDED, actual_visit_id=event_visit,
                             log_event_id=event.id, care_worker_id=care_worker_id)
        for visit_id in ids:
            if visit_id != event_visit:
                _append_feed(session, now, ACTUAL_VISIT_CHANGED, actual_visit_id=visit_id,
                             care_worker_id=care_worker_id, detail={"source": source})
    return announced


def record_visit_corrected(session: Session, *, change_id: str, changed_by: str,
                           changed_at: datetime, reason_code: str, memo: str,
                           changes: dict[str, Any], actual_visit_id: int | None = None,
                           planned_visit_ref: str | None = None,
                           feed_type: str = VISIT_CORRECTED_ENTRY) -> bool:
    """Announce a person's correction of a visit (Sandata's VisitChanges), after it is flushed.

    It names the actual visit or the planned visit it changes; `changes` maps each field to
    [before, after] as JSON values. `feed_type`: the change feed's name for it.
    """
    if actual_visit_id is None and planned_visit_ref is None:
        raise ValueError("a visit change names the actual visit or the planned visit it changes")
    ordering_key = None
    if actual_visit_id is not None:
        visit = session.get(ActualVisit, actual_visit_id)
        if visit is not None:  # after the carer's own changes to it, never before
            ordering_key = carer_ordering_key(visit.care_worker_id)
    payload = {"change_id": change_id, "changed_by": changed_by,
               "changed_at": changed_at.isoformat(), "reason_code": reason_code, "memo": memo,
               "changes": changes, "actual_visit_id": actual_visit_id,
               "planned_visit_ref": planned_visit_ref}
    announced = enqueue(session, kind=VISIT_CORRECTED,
                        idempotency_key=f"visit-corrected:{change_id}", payload=payload,
                        now=changed_at, ordering_key=ordering_key)
    if announced:
        _append_feed(session, changed_at, feed_type, actual_visit_id=actual_visit_id,
                     planned_visit_ref=planned_visit_ref,
                     detail={key: payload[key] for key in (
                         "change_id", "changed_by", "changed_at", "reason_code", "memo",
                         "changes")})
    return announced


def _record_rota_changed(session: Session, record_type: RotaRecord, ref: str,
                         now: datetime) -> bool:
    # Every change gets its own row (a random key): whoever reads it looks at the record as it
    # is then, so a row that carries no change for them costs one comparison. No ordering key:
    # rows are handled in the order written, and each reads the current state anyway.
    return enqueue(session, kind=ROTA_CHANGED,
                   idempotency_key=f"rota-changed:{record_type}:{ref}:{uuid.uuid4().hex}",
                   payload={"record_type": record_type, "ref": ref}, now=now)


def record_adult_changed(session: Session, adult: Adult, now: datetime) -> bool:
    """Announce that an adult of the rota was created or changed."""
    return _record_rota_changed(session, "adult", adult.ref, now)


def record_care_worker_changed(session: Session, care_worker: CareWorker, now: datetime) -> bool:
    """Announce that a care worker of the rota was created or changed."""
    return _record_rota_changed(session, "care_worker", care_worker.ref, now)


def record_planned_visit_changed(session: Session, visit: PlannedVisit, now: datetime) -> bool:
    """Announce that a planned visit was created, moved or cancelled."""
    _append_feed(session, now, PLANNED_VISIT_CANCELLED if visit.status == VisitStatus.CANCELLED
                 else PLANNED_VISIT_CHANGED, planned_visit=visit)
    return _record_rota_changed(session, "planned_visit", visit.ref, now)


def record_rota_changes(session: Session, records: list[tuple[RotaRecord, str]],
                        now: datetime) -> None:
    """Announce many changed rota records at once (a rota batch): one outbox row each and, for
    the planned visits, one change-feed entry each (created, moved or cancelled), each kind in
    one INSERT."""
    enqueue_many(session, kind=ROTA_CHANGED, now=now, messages=[
        (f"rota-changed:{record_type}:{ref}:{uuid.uuid4().hex}",
         {"record_type": record_type, "ref": ref}) for record_type, ref in records])
    visit_refs = [ref for record_type, ref in records if record_type == "planned_visit"]
    if not visit_refs:
        return
    xact_id: Any = (cast(cast(func.pg_current_xact_id(), Text), BigInteger)
                    if session.get_bind().dialect.name == "postgresql" else 0)
    found: dict[str, tuple[int, VisitStatus]] = {}
    for start in range(0, len(visit_refs), 1000):  # bounded IN lists
        found.update({ref: (id_, status) for id_, ref, status in session.execute(
            select(PlannedVisit.id, PlannedVisit.ref, PlannedVisit.status)
            .where(PlannedVisit.ref.in_(visit_refs[start:start + 1000])))})
    rows: list[dict[str, Any]] = [
        {"type": PLANNED_VISIT_CANCELLED if status == VisitStatus.CANCELLED
         else PLANNED_VISIT_CHANGED, "planned_visit_ref": ref, "planned_visit_id": id_,
         "actual_visit_id": None, "log_event_id": None, "care_worker_id": None,
         "detail": {}, "recorded_at": now}
        for ref in visit_refs if ref in found for id_, status in (found[ref],)]
    if rows:
        session.execute(insert(VisitChange).values(xact_id=xact_id), rows)
