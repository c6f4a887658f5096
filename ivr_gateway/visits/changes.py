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
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from ivr_gateway.models import ActualVisit, Adult, CareWorker, PlannedVisit
from ivr_gateway.outbox.service import enqueue, enqueue_many

VISIT_CHANGED = "visit_changed"
VISIT_CORRECTED = "visit_corrected"
ROTA_CHANGED = "rota_changed"
CHANGE_KINDS = (VISIT_CHANGED, VISIT_CORRECTED, ROTA_CHANGED)

RotaRecord = Literal["adult", "care_worker", "planned_visit"]


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
    return enqueue(session, kind=VISIT_CHANGED, idempotency_key=f"visit-changed:{source}",
                   payload={"care_worker_id": care_worker_id, "actual_visit_ids": ids},
                   now=now, ordering_key=carer_ordering_key(care_worker_id))


def record_visit_corrected(session: Session, *, change_id: str, changed_by: str,
                           changed_at: datetime, reason_code: str, memo: str,
                           changes: dict[str, Any], actual_visit_id: int | None = None,
                           planned_visit_ref: str | None = None) -> bool:
    """Announce a person's correction of a visit (Sandata's VisitChanges), after it is flushed.

    It names the actual visit or the planned visit it changes; `changes` maps each field to
    [before, after] as JSON values.
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
    return enqueue(session, kind=VISIT_CORRECTED, idempotency_key=f"visit-corrected:{change_id}",
                   payload=payload, now=changed_at, ordering_key=ordering_key)


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
    return _record_rota_changed(session, "planned_visit", visit.ref, now)


def record_rota_changes(session: Session, records: list[tuple[RotaRecord, str]],
                        now: datetime) -> None:
    """Announce many changed rota records at once (a rota batch): one row each, one INSERT."""
    enqueue_many(session, kind=ROTA_CHANGED, now=now, messages=[
        (f"rota-changed:{record_type}:{ref}:{uuid.uuid4().hex}",
         {"record_type": record_type, "ref": ref}) for record_type, ref in records])
