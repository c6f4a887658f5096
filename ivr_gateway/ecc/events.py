"""Council records, rendered from the domain's "what changed" outbox rows.

The domain (recording a log event, a rota upsert, an office correction) writes a row of its own
kind in its transaction (ivr_gateway.visits.changes); the relay's render step here subscribes to
those kinds and turns them into versioned council records. Nothing here talks to the council:
the relay does, later (ivr_gateway.ecc.relay).

Each record keeps a version row: the sequence_id rises with every change and a record whose body
has not changed is not queued again. Records of one visit share an ordering key, so the relay
never lets a log-out's version overtake its log-in's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr_gateway.ecc.models import EccRecordVersion
from ivr_gateway.ecc.payloads import (
    actual_visit_data,
    adult_data,
    care_worker_data,
    planned_visit_data,
    visit_id_of,
    withdrawn_visit_data,
)
from ivr_gateway.ecc.schemas import SCHEMA_VERSION, VisitChangeData
from ivr_gateway.models import ActualVisit, Adult, CareWorker, PlannedVisit
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.outbox.service import claim_due, enqueue
from ivr_gateway.visits.changes import (
    CHANGE_KINDS,
    ROTA_CHANGED,
    VISIT_CHANGED,
    VISIT_CORRECTED,
)

log = logging.getLogger(__name__)

KIND = "ecc"  # the outbox kind of council records; other senders use their own kinds


def idempotency_key_of(record_type: str, record_id: str, sequence_id: int) -> str:
    """One key per version of one record: the council answers a repeat with the same success."""
    return f"ecc:{record_type}:{record_id}:{sequence_id}"


def visit_ordering_key(actual_visit_id: int) -> str:
    """Every version of a visit, and its changes, go in the order they were queued."""
    return f"ecc:visit:{actual_visit_id}"


def _hash(data: BaseModel) -> str:
    text = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _version(session: Session, record_type: str, record_id: str) -> EccRecordVersion | None:
    return session.scalar(select(EccRecordVersion).where(
        EccRecordVersion.record_type == record_type, EccRecordVersion.record_id == record_id,
    ).with_for_update())


def _queue(session: Session, record_type: str, record_id: str, data: BaseModel, *,
           ordering_key: str, now: datetime) -> bool:
    """Queue the next version of a record unless its body is what was last queued."""
    body_hash = _hash(data)
    version = _version(session, record_type, record_id)
    if version is not None and version.body_hash == body_hash:
        return False
    if version is None:
        version = EccRecordVersion(record_type=record_type, record_id=record_id, sequence_id=0,
                                   body_hash=body_hash, updated_at=now)
        session.add(version)
    version.sequence_id += 1
    version.body_hash = body_hash
    version.updated_at = now
    session.flush()
    key = idempotency_key_of(record_type, record_id, version.sequence_id)
    payload: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "idempotency_key": key, "record_type": record_type,
        "record_id": record_id, "sequence_id": version.sequence_id,
        "generated_at": now.isoformat().replace("+00:00", "Z"),
        "data": data.model_dump(mode="json"),
    }
    return enqueue(session, kind=KIND, idempotency_key=key, payload=payload, now=now,
                   ordering_key=ordering_key)


def queue_adult_record(session: Session, adult: Adult, now: datetime) -> bool:
    """Queue an adult's record if what the council holds of them changed."""
    return _queue(session, "adult", adult.ref, adult_data(adult),
                  ordering_key=f"ecc:adult:{adult.ref}", now=now)


def queue_care_worker_record(session: Session, care_worker: CareWorker, now: datetime) -> bool:
    """Queue a care worker's record if what the council holds of them changed (not a PIN)."""
    return _queue(session, "care_worker", care_worker.ref, care_worker_data(care_worker),
                  ordering_key=f"ecc:care_worker:{care_worker.ref}", now=now)


def queue_planned_visit_record(session: Session, visit: PlannedVisit, now: datetime) -> bool:
    """Queue a planned visit's record (created, moved, cancelled) if it changed."""
    return _queue(session, "planned_visit", visit.ref, planned_visit_data(visit),
                  ordering_key=f"ecc:planned_visit:{visit.ref}", now=now)


def queue_visit_records(session: Session, care_worker_id: int, actual_visit_ids: Iterable[int],
                        now: datetime) -> int:
    """Queue the new version of each actual visit a log event touched; count those queued.

    A visit that no longer exists (a carer's correction removed it) is sent once more as
    withdrawn, if the council was ever told of it.
    """
    queued = 0
    for visit_id in sorted(set(actual_visit_ids)):
        visit = session.get(ActualVisit, visit_id)
        if visit is not None:
            data = actual_visit_data(session, visit)
        elif _version(session, "actual_visit", visit_id_of(visit_id)) is not None:
            carer = session.get_one(CareWorker, care_worker_id)
            data = withdrawn_visit_data(visit_id, carer.ref)
        else:
            continue
        queued += _queue(session, "actual_visit", visit_id_of(visit_id), data,
                         ordering_key=visit_ordering_key(visit_id), now=now)
    return queued


def queue_visit_change(session: Session, *, change_id: str, changed_by: str,
                       changed_at: datetime, reason_code: str, memo: str,
                       changes: dict[str, Any], actual_visit_id: int | None = None,
                       planned_visit_ref: str | None = None) -> bool:
    """Queue a correction of a visit now, then the visit's new version (rendering first the
    changes still waiting, so the council hears of the visit before a change to it).

    The domain announces corrections with visits.changes.record_visit_corrected; the relay
    renders those through _queue_change. This direct form serves tests and tools.
    """
    if actual_visit_id is None and planned_visit_ref is None:
        raise ValueError("a visit change names the actual visit or the planned visit it changes")
    render_visit_records(session, changed_at)
    return _queue_change(session, change_id=change_id, changed_by=changed_by,
                         changed_at=changed_at, reason_code=reason_code, memo=memo,
                         changes=changes, actual_visit_id=actual_visit_id,
                         planned_visit_ref=planned_visit_ref)


def _queue_change(session: Session, *, change_id: str, changed_by: str, changed_at: datetime,
                  reason_code: str, memo: str, changes: dict[str, Any],
                  actual_visit_id: int | None, planned_visit_ref: str | None) -> bool:
    """Queue the change record, then the new version of the visit it changed."""
    data = VisitChangeData(
        change_id=change_id,
        visit_id=visit_id_of(actual_visit_id) if actual_visit_id is not None else None,
        planned_visit_ref=planned_visit_ref, change_made_by=changed_by, change_time=changed_at,
        reason_code=reason_code, change_reason_memo=memo, changes=changes)
    ordering_key = (visit_ordering_key(actual_visit_id) if actual_visit_id is not None
                    else f"ecc:planned_visit:{planned_visit_ref}")
    queued = _queue(session, "visit_change", change_id, data, ordering_key=ordering_key,
                    now=changed_at)
    if actual_visit_id is not None:
        visit = session.get(ActualVisit, actual_visit_id)
        if visit is not None:
            queue_visit_records(session, visit.care_worker_id, [actual_visit_id], changed_at)
    elif planned_visit_ref is not None:
        planned = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == planned_visit_ref))
        if planned is not None:
            queue_planned_visit_record(session, planned, changed_at)
    return queued


# The council subscribes to the domain's "what changed" kinds (ivr_gateway.visits.changes) and
# renders its records from them. LEGACY_RENDER_KIND: the pointers this package wrote itself before
# the domain owned them; rows of it still waiting in a deployed database are rendered the same way
# as "visit_changed" (same payload), so nothing queued before an upgrade is lost.
LEGACY_RENDER_KIND = "ecc_render"
RENDER_KINDS = (LEGACY_RENDER_KIND, *CHANGE_KINDS)


def _render(session: Session, pointer: OutboxMessage) -> None:
    payload = pointer.payload
    if pointer.kind in (VISIT_CHANGED, LEGACY_RENDER_KIND):
        queue_visit_records(session, int(payload["care_worker_id"]),
                            [int(i) for i in payload["actual_visit_ids"]], pointer.created_at)
    elif pointer.kind == VISIT_CORRECTED:
        _queue_change(session, change_id=str(payload["change_id"]),
                      changed_by=str(payload["changed_by"]),
                      changed_at=datetime.fromisoformat(payload["changed_at"]),
                      reason_code=str(payload["reason_code"]), memo=str(payload["memo"]),
                      changes=dict(payload["changes"]),
                      actual_visit_id=payload.get("actual_visit_id"),
                      planned_visit_ref=payload.get("planned_visit_ref"))
    elif pointer.kind == ROTA_CHANGED:
        _render_rota_record(session, str(payload["record_type"]), str(payload["ref"]),
                            pointer.created_at)
    else:  # pragma: no cover - claim_due only hands out RENDER_KINDS
        raise ValueError(f"no council rendering for outbox kind {pointer.kind!r}")


def _render_rota_record(session: Session, record_type: str, ref: str, now: datetime) -> None:
    if record_type == "adult":
        adult = session.scalar(select(Adult).where(Adult.ref == ref))
        if adult is not None:
            queue_adult_record(session, adult, now)
    elif record_type == "care_worker":
        carer = session.scalar(select(CareWorker).where(CareWorker.ref == ref))
        if carer is not None:
            queue_care_worker_record(session, carer, now)
    elif record_type == "planned_visit":
        visit = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == ref))
        if visit is not None:
            queue_planned_visit_record(session, visit, now)
    else:
        raise ValueError(f"unknown rota record type {record_type!r}")


def render_visit_records(session: Session, now: datetime, limit: int = 200) -> int:
    """Turn pending "what changed" rows into council records, oldest first; the caller commits.

    One carer's rows wait for each other (their ordering key), so a pass may leave some for
    the next one: the relay passes every second or two.
    """
    pointers = claim_due(session, kinds=RENDER_KINDS, now=now, limit=limit,
                         lease=timedelta(minutes=1), worker="ecc-render")
    rendered: list[int] = []
    for pointer in pointers:
        try:
            with session.begin_nested():  # one bad visit must not hold up the others
                _render(session, pointer)
        except Exception as error:
            # A dead letter like any refused record: `outbox status` lists it, the escalation
            # rules raise "forwarding failed", `outbox retry` renders it again once fixed.
            log.exception("could not render council records for outbox %s", pointer.id)
            pointer.status = OutboxStatus.DEAD
            pointer.claimed_until = None
            pointer.last_error = f"rendering failed: {type(error).__name__}: {error}"[:2000]
            continue
        rendered.append(pointer.id)
    if rendered:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(rendered))
                        .values(status=OutboxStatus.SENT, sent_at=now, claimed_until=None))
    return len(rendered)
