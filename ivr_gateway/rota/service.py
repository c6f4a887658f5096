"""Rota use cases: upsert adults, care workers and planned visits by the caller's own reference.

Each function takes validated input (ivr_gateway.rota.schemas), a session, ``now`` and the actor
(who is asking: "api:<token name>", "cli:<user>", "csv:<file>"), writes an AuditEntry for every
change and reports whether the record was created, updated or left unchanged. Sending the same
payload twice changes nothing the second time and writes no audit row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.hashing import hash_pin
from ivr_gateway.models import (
    ActualVisit,
    Adult,
    AuditEntry,
    CareWorker,
    PinFailure,
    PlannedVisit,
    VisitStatus,
)
from ivr_gateway.rota.loading import Change as Change
from ivr_gateway.rota.loading import ItemResult, LoadResult, RotaItem, load_rota
from ivr_gateway.rota.problems import FieldProblem as FieldProblem
from ivr_gateway.rota.problems import InvalidRota as InvalidRota
from ivr_gateway.rota.problems import NotFound as NotFound
from ivr_gateway.rota.problems import RotaError as RotaError
from ivr_gateway.rota.problems import check_ref as check_ref
from ivr_gateway.rota.problems import field_path as field_path
from ivr_gateway.rota.problems import invalid_from as invalid_from
from ivr_gateway.rota.problems import problems_from as problems_from
from ivr_gateway.rota.schemas import (
    AdultIn,
    AdultView,
    CareWorkerIn,
    CareWorkerView,
    LockoutView,
    PlannedVisitIn,
    PlannedVisitView,
    pin_problem,
    validation_context,
)

V = TypeVar("V")
M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", Adult, CareWorker, PlannedVisit)


@dataclass(frozen=True)
class Upserted(Generic[V]):
    """What an upsert did, and the record as it now stands."""

    change: Change
    view: V
    changed_fields: list[str] = field(default_factory=list)


def _one(result: LoadResult) -> ItemResult:
    # A single upsert is a batch of one: its refusal is raised, as the single PUTs answer it.
    item = result.results[0]
    if item.status == "invalid":
        raise InvalidRota(item.message, item.fields)
    assert item.change is not None
    return item


def _audit(session: Session, now: datetime, actor: str, action: str, entity: str, ref: str,
           detail: dict[str, object]) -> None:
    session.add(AuditEntry(at=now, actor=actor[:100], action=action, entity=entity,
                           entity_ref=ref, detail=detail))


# ---------------------------------------------------------------- adults


def adult_view(adult: Adult) -> AdultView:
    """The API's view of a client."""
    return AdultView(
        ref=adult.ref, client_number=adult.client_number, given_name=adult.given_name,
        family_name=adult.family_name, address=adult.address, postcode=adult.postcode,
        landlines=[line.number for line in adult.landlines], rag=adult.rag, active=adult.active,
        created_at=adult.created_at, updated_at=adult.updated_at,
    )


def upsert_adult(session: Session, ref: str, data: AdultIn, *, settings: Settings,
                 now: datetime, actor: str) -> Upserted[AdultView]:
    """Create or update a client by its reference; same data twice is 'unchanged'."""
    item = _one(load_rota(session, [RotaItem("adult", ref, data)], settings=settings, now=now,
                          actor=actor))
    return Upserted(item.change or "unchanged", adult_view(item.record), item.changed_fields)


def get_adult(session: Session, ref: str) -> AdultView:
    """A client by reference, or NotFound."""
    adult = session.scalar(select(Adult).where(Adult.ref == ref))
    if adult is None:
        raise NotFound(f"There is no adult with ref {ref!r}.")
    return adult_view(adult)


# ---------------------------------------------------------------- care workers


def care_worker_view(care_worker: CareWorker) -> CareWorkerView:
    """The API's view of a carer: never the PIN, only whether one is set."""
    return CareWorkerView(
        ref=care_worker.ref, staff_number=care_worker.staff_number,
        given_name=care_worker.given_name, family_name=care_worker.family_name,
        pin_set=bool(care_worker.pin_hash), mobiles=[m.number for m in care_worker.mobiles],
        language=care_worker.language, branch=care_worker.branch, active=care_worker.active,
        locked_until=care_worker.locked_until, created_at=care_worker.created_at,
        updated_at=care_worker.updated_at,
    )


def upsert_care_worker(session: Session, ref: str, data: CareWorkerIn, *, settings: Settings,
                       now: datetime, actor: str) -> Upserted[CareWorkerView]:
    """Create or update a carer by reference; a PIN given is set or reset (hashed, never echoed)."""
    item = _one(load_rota(session, [RotaItem("care_worker", ref, data)], settings=settings,
                          now=now, actor=actor))
    return Upserted(item.change or "unchanged", care_worker_view(item.record),
                    item.changed_fields)


def get_care_worker(session: Session, ref: str) -> CareWorkerView:
    """A carer by reference, or NotFound."""
    care_worker = session.scalar(select(CareWorker).where(CareWorker.ref == ref))
    if care_worker is None:
        raise NotFound(f"There is no care worker with ref {ref!r}.")
    return care_worker_view(care_worker)


def set_care_worker_pin(session: Session, staff_number: str, pin: str, *, settings: Settings,
                        now: datetime, actor: str) -> CareWorkerView:
    """Set or reset a carer's PIN by staff number (the office's CLI door); audited, never echoed."""
    care_worker = session.scalar(select(CareWorker).where(CareWorker.staff_number == staff_number))
    if care_worker is None:
        raise NotFound(f"There is no care worker with staff number {staff_number!r}.")
    problem = pin_problem(pin, settings, staff_number)
    if problem:
        raise InvalidRota.of("pin", problem)
    action = "reset" if care_worker.pin_hash else "set"
    care_worker.pin_hash = hash_pin(pin, settings.pin_pepper)
    care_worker.updated_at = now
    _audit(session, now, actor, "update", "care_worker", care_worker.ref,
           {"changes": {"pin": action}})
    session.flush()
    return care_worker_view(care_worker)


def unlock_care_worker(session: Session, ref: str, *, now: datetime,
                       actor: str) -> Upserted[CareWorkerView]:
    """Lift a PIN lockout: clear locked_until and the wrong-PIN count; the carer starts afresh."""
    care_worker = session.scalar(select(CareWorker).where(CareWorker.ref == ref))
    if care_worker is None:
        raise NotFound(f"There is no care worker with ref {ref!r}.")
    was_locked_until = care_worker.locked_until
    failures = session.execute(
        delete(PinFailure).where(PinFailure.staff_number == care_worker.staff_number)
    ).rowcount  # type: ignore[attr-defined]
    if was_locked_until is None and not failures:
        return Upserted("unchanged", care_worker_view(care_worker))
    care_worker.locked_until = None
    care_worker.updated_at = now
    _audit(session, now, actor, "unlock", "care_worker", care_worker.ref, {
        "locked_until": was_locked_until.isoformat() if was_locked_until else None,
        "pin_failures_cleared": failures,
    })
    session.flush()
    return Upserted("updated", care_worker_view(care_worker), ["locked_until"])


def list_lockouts(session: Session, now: datetime) -> list[LockoutView]:
    """Carers locked out right now, soonest to be released first."""
    locked = session.scalars(
        select(CareWorker).where(CareWorker.locked_until > now).order_by(CareWorker.locked_until)
    )
    return [
        LockoutView(ref=c.ref, staff_number=c.staff_number, given_name=c.given_name,
                    family_name=c.family_name, locked_until=c.locked_until)
        for c in locked if c.locked_until is not None
    ]


# ---------------------------------------------------------------- planned visits


def planned_visit_view(visit: PlannedVisit) -> PlannedVisitView:
    """The API's view of a planned visit."""
    return PlannedVisitView(
        ref=visit.ref, adult_ref=visit.adult.ref,
        care_worker_refs=[c.ref for c in visit.care_workers],
        planned_start=visit.planned_start, planned_end=visit.planned_end, status=visit.status,
        cancel_reason=visit.cancel_reason, cancel_note=visit.cancel_note,
        time_critical=visit.time_critical, created_at=visit.created_at,
        updated_at=visit.updated_at,
    )


def upsert_planned_visit(session: Session, ref: str, data: PlannedVisitIn, *,
                         settings: Settings, now: datetime,
                         actor: str) -> Upserted[PlannedVisitView]:
    """Create or replace a planned visit by reference; its adult and carers must exist already."""
    item = _one(load_rota(session, [RotaItem("planned_visit", ref, data)], settings=settings,
                          now=now, actor=actor))
    # A new visit is stored as a row, not an object (loading.py): read it back.
    visit = item.record or session.scalars(select(PlannedVisit).where(
        PlannedVisit.ref == item.ref)).one()
    return Upserted(item.change or "unchanged", planned_visit_view(visit), item.changed_fields)


def get_planned_visit(session: Session, ref: str) -> PlannedVisitView:
    """A planned visit by reference, or NotFound."""
    visit = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == ref))
    if visit is None:
        raise NotFound(f"There is no planned visit with ref {ref!r}.")
    return planned_visit_view(visit)


# ---------------------------------------------------------------- partial updates, withdrawals

# A null in a merge patch clears a field; where the stored value of "nothing" is not null, this
# is what it becomes. A field not listed and sent as null is left out (required: refused).
_CLEARED: dict[str, object] = {"address": "", "postcode": "", "branch": "", "mobiles": []}


def merge_patch(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7396) of a record's input fields: only the fields given change."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
            if key in _CLEARED:
                merged[key] = _CLEARED[key]
        else:
            merged[key] = value
    return merged


def _validated(model: type[M], merged: dict[str, Any], settings: Settings) -> M:
    try:
        return model.model_validate(merged, context=validation_context(settings))
    except ValidationError as error:
        raise invalid_from(error) from None


def _found(session: Session, model: type[R], ref: str, what: str) -> R:
    column: Any = model.ref
    record: R | None = session.scalar(select(model).where(column == ref))
    if record is None:
        raise NotFound(f"There is no {what} with ref {ref!r}; create it with PUT first.")
    return record


def patch_adult(session: Session, ref: str, patch: dict[str, Any], *, settings: Settings,
                now: datetime, actor: str) -> Upserted[AdultView]:
    """Change only the given fields of a client (JSON merge patch)."""
    view = adult_view(_found(session, Adult, ref, "adult"))
    current = view.model_dump(mode="json", include=set(AdultIn.model_fields))
    data = _validated(AdultIn, merge_patch(current, patch), settings)
    return upsert_adult(session, ref, data, settings=settings, now=now, actor=actor)


def patch_care_worker(session: Session, ref: str, patch: dict[str, Any], *, settings: Settings,
                      now: datetime, actor: str) -> Upserted[CareWorkerView]:
    """Change only the given fields of a carer (JSON merge patch): a PIN alone resets the PIN.

    ``"active": false`` is how a leaver is marked: they can no longer log visits by phone or
    text, and everything they logged stays as evidence.
    """
    view = care_worker_view(_found(session, CareWorker, ref, "care worker"))
    current = view.model_dump(mode="json", include=set(CareWorkerIn.model_fields))
    data = _validated(CareWorkerIn, merge_patch(current, patch), settings)
    return upsert_care_worker(session, ref, data, settings=settings, now=now, actor=actor)


def patch_planned_visit(session: Session, ref: str, patch: dict[str, Any], *,
                        settings: Settings, now: datetime,
                        actor: str) -> Upserted[PlannedVisitView]:
    """Change only the given fields of a planned visit (JSON merge patch).

    Setting status back to planned without naming cancel_reason drops the cancellation's reason
    and note with it.
    """
    view = planned_visit_view(_found(session, PlannedVisit, ref, "planned visit"))
    current = view.model_dump(mode="json", include=set(PlannedVisitIn.model_fields))
    if patch.get("status") == "planned" and "cancel_reason" not in patch:
        current.pop("cancel_reason", None)
        current.pop("cancel_note", None)
    data = _validated(PlannedVisitIn, merge_patch(current, patch), settings)
    return upsert_planned_visit(session, ref, data, settings=settings, now=now, actor=actor)


class VisitStarted(RotaError):
    """The visit has begun (a carer logged in): the rota can no longer withdraw it."""

    code = "visit_started"


WITHDRAWN = "WITHDRAWN"


def check_reason(code: str) -> str:
    """A cancellation's reason code as the rota gives it, or InvalidRota naming ``reason``."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", code):
        raise InvalidRota.of("reason", "a reason code is 1-64 letters, digits, _ or -")
    return code


def withdraw_planned_visit(session: Session, ref: str, *, settings: Settings, now: datetime,
                           actor: str, reason: str = WITHDRAWN,
                           note: str | None = None) -> Upserted[PlannedVisitView]:
    """Withdraw a planned visit before it starts: it is cancelled with the rota's reason.

    Cancelled, it raises no alert (an open one settles), the board shows it cancelled, and the
    council is told of the cancellation as for any other. Refused (VisitStarted) once a carer
    has logged in to it: what happened then is evidence, corrected by the office.
    """
    visit = _found(session, PlannedVisit, ref, "planned visit")
    started = session.scalar(select(func.min(ActualVisit.started_at))
                             .where(ActualVisit.planned_visit_id == visit.id))
    logged = started or session.scalar(select(ActualVisit.id).where(
        ActualVisit.planned_visit_id == visit.id).limit(1))
    if logged:
        at = f" at {started.astimezone(settings.tz):%H:%M}" if started else ""
        raise VisitStarted(f"Visit {ref} has started (a carer logged in{at}); it can no longer "
                           "be withdrawn. Ask the office to record what happened instead.")
    if visit.status == VisitStatus.CANCELLED:
        return Upserted("unchanged", planned_visit_view(visit))
    view = planned_visit_view(visit)
    current = view.model_dump(mode="json", include=set(PlannedVisitIn.model_fields))
    current.update(status="cancelled", cancel_reason=reason,
                   cancel_note=note or "withdrawn by the rostering system before it started")
    data = _validated(PlannedVisitIn, current, settings)
    return upsert_planned_visit(session, ref, data, settings=settings, now=now, actor=actor)
