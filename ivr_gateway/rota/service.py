"""Rota use cases: upsert adults, care workers and planned visits by the caller's own reference.

Each function takes validated input (ivr_gateway.rota.schemas), a session, ``now`` and the actor
(who is asking: "api:<token name>", "cli:<user>", "csv:<file>"), writes an AuditEntry for every
change and reports whether the record was created, updated or left unchanged. Sending the same
payload twice changes nothing the second time and writes no audit row.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.hashing import hash_pin, verify_pin
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    AdultLandline,
    AuditEntry,
    CareWorker,
    CareWorkerMobile,
    PinFailure,
    PlannedVisit,
)
from ivr_gateway.rota.schemas import (
    REF_PATTERN,
    AdultIn,
    AdultView,
    CareWorkerIn,
    CareWorkerView,
    LockoutView,
    PlannedVisitIn,
    PlannedVisitView,
    pin_problem,
)
from ivr_gateway.visits.changes import (
    record_adult_changed,
    record_care_worker_changed,
    record_planned_visit_changed,
)
from ivr_gateway.visits.deadlines import expected_end

Change = Literal["created", "updated", "unchanged"]
V = TypeVar("V")


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one field of the input (``landlines[0]``, ``planned_end``)."""

    field: str
    message: str


class RotaError(Exception):
    """A refusal with a message a person can act on; ``code`` is the API's error code."""

    code = "rota_error"

    def __init__(self, message: str, fields: Sequence[FieldProblem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.fields = list(fields)


class InvalidRota(RotaError):
    """The input is wrong: see ``fields``. Nothing was stored."""

    code = "validation_error"

    @classmethod
    def of(cls, field_name: str, message: str) -> InvalidRota:
        """One problem with one field."""
        return cls(f"{field_name}: {message}", [FieldProblem(field_name, message)])


class NotFound(RotaError):
    """No record with that reference."""

    code = "not_found"


@dataclass(frozen=True)
class Upserted(Generic[V]):
    """What an upsert did, and the record as it now stands."""

    change: Change
    view: V
    changed_fields: list[str] = field(default_factory=list)


def field_path(loc: Iterable[int | str]) -> str:
    """('landlines', 0) -> 'landlines[0]'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def problems_from(error: ValidationError) -> list[FieldProblem]:
    """Turn pydantic's errors into field problems worded for a person."""
    problems = []
    for item in error.errors(include_url=False):
        message = item["msg"]
        if item["type"] == "value_error":
            message = str(item.get("ctx", {}).get("error", message))
        elif item["type"] == "missing":
            message = "this field is required"
        elif item["type"] == "extra_forbidden":
            message = "unknown field; check its spelling against the API document"
        elif item["type"] == "string_pattern_mismatch" and "pattern" in item.get("ctx", {}):
            pattern = item["ctx"]["pattern"]
            if pattern == REF_PATTERN:
                message = "a reference is 1-64 letters, digits or . _ : - (no spaces)"
            elif pattern == r"^[0-9]+$":
                message = "digits only"
        problems.append(FieldProblem(field_path(item["loc"]) or "body", message))
    return problems


def invalid_from(error: ValidationError) -> InvalidRota:
    """An InvalidRota carrying every problem pydantic found."""
    problems = problems_from(error)
    summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return InvalidRota(f"The request is not valid: {summary}{more}", problems)


def check_ref(ref: str) -> str:
    """A reference from a URL or a file, or InvalidRota naming the field ``ref``."""
    ref = ref.strip()
    if not re.fullmatch(REF_PATTERN, ref):
        raise InvalidRota.of("ref", "a reference is 1-64 letters, digits or . _ : - (no spaces)")
    return ref


def _audit(session: Session, now: datetime, actor: str, action: str, entity: str, ref: str,
           detail: dict[str, Any]) -> None:
    session.add(AuditEntry(at=now, actor=actor[:100], action=action, entity=entity,
                           entity_ref=ref, detail=detail))


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {key: [before.get(key), value] for key, value in after.items()
            if before.get(key) != value}


# ---------------------------------------------------------------- adults


def _adult_state(adult: Adult) -> dict[str, Any]:
    return {
        "client_number": adult.client_number,
        "given_name": adult.given_name,
        "family_name": adult.family_name,
        "address": adult.address,
        "postcode": adult.postcode,
        "landlines": sorted(line.number for line in adult.landlines),
        "rag": str(adult.rag.value),
        "active": adult.active,
    }


def adult_view(adult: Adult) -> AdultView:
    """The API's view of a client."""
    return AdultView(
        ref=adult.ref, client_number=adult.client_number, given_name=adult.given_name,
        family_name=adult.family_name, address=adult.address, postcode=adult.postcode,
        landlines=[line.number for line in adult.landlines], rag=adult.rag, active=adult.active,
        created_at=adult.created_at, updated_at=adult.updated_at,
    )


def _new_client_number(session: Session, settings: Settings) -> str:
    digits = settings.client_number_digits
    low = 10 ** (digits - 1)
    for _ in range(50):
        candidate = str(low + secrets.randbelow(9 * low))
        if session.scalar(select(Adult.id).where(Adult.client_number == candidate)) is None:
            return candidate
    raise RotaError("No free client number could be found; set CLIENT_NUMBER_DIGITS higher.")


def upsert_adult(session: Session, ref: str, data: AdultIn, *, settings: Settings,
                 now: datetime, actor: str) -> Upserted[AdultView]:
    """Create or update a client by its reference; same data twice is 'unchanged'."""
    ref = check_ref(ref)
    adult = session.scalar(select(Adult).where(Adult.ref == ref))
    if data.client_number is not None:
        holder = session.scalar(select(Adult.ref).where(
            Adult.client_number == data.client_number, Adult.ref != ref))
        if holder is not None:
            raise InvalidRota.of(
                "client_number",
                f"client number {data.client_number} already belongs to adult {holder}; "
                "leave it out to have one generated",
            )
    before = _adult_state(adult) if adult is not None else {}
    desired: dict[str, Any] = {
        "client_number": data.client_number or (adult.client_number if adult else None),
        "given_name": data.given_name,
        "family_name": data.family_name,
        "address": data.address if data.address is not None else before.get("address", ""),
        "postcode": data.postcode if data.postcode is not None else before.get("postcode", ""),
        "landlines": sorted(data.landlines),
        "rag": str(data.rag.value),
        "active": data.active if data.active is not None else before.get("active", True),
    }
    if adult is None:
        desired["client_number"] = desired["client_number"] or _new_client_number(session,
                                                                                  settings)
        adult = Adult(ref=ref, created_at=now, updated_at=now)
        session.add(adult)
        change: Change = "created"
    else:
        change = "updated"
    changes = _diff(before, desired)
    if not changes:
        return Upserted("unchanged", adult_view(adult))
    adult.client_number = desired["client_number"]
    adult.given_name = data.given_name
    adult.family_name = data.family_name
    adult.address = desired["address"]
    adult.postcode = desired["postcode"]
    adult.rag = data.rag
    adult.active = desired["active"]
    adult.updated_at = now
    if "landlines" in changes:
        wanted = set(data.landlines)
        adult.landlines = [line for line in adult.landlines if line.number in wanted]
        have = {line.number for line in adult.landlines}
        adult.landlines.extend(AdultLandline(number=n) for n in data.landlines if n not in have)
    session.flush()
    _audit(session, now, actor, "create" if change == "created" else "update", "adult", ref,
           {"changes": changes})
    record_adult_changed(session, adult, now)
    return Upserted(change, adult_view(adult), sorted(changes))


def get_adult(session: Session, ref: str) -> AdultView:
    """A client by reference, or NotFound."""
    adult = session.scalar(select(Adult).where(Adult.ref == ref))
    if adult is None:
        raise NotFound(f"There is no adult with ref {ref!r}.")
    return adult_view(adult)


# ---------------------------------------------------------------- care workers


def _care_worker_state(care_worker: CareWorker) -> dict[str, Any]:
    return {
        "staff_number": care_worker.staff_number,
        "given_name": care_worker.given_name,
        "family_name": care_worker.family_name,
        "mobiles": sorted(m.number for m in care_worker.mobiles),
        "language": care_worker.language,
        "branch": care_worker.branch,
        "active": care_worker.active,
    }


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
    ref = check_ref(ref)
    care_worker = session.scalar(select(CareWorker).where(CareWorker.ref == ref))
    holder = session.scalar(select(CareWorker.ref).where(
        CareWorker.staff_number == data.staff_number, CareWorker.ref != ref))
    if holder is not None:
        raise InvalidRota.of("staff_number",
                             f"staff number {data.staff_number} already belongs to care worker "
                             f"{holder}; each carer needs their own")
    for index, number in enumerate(data.mobiles or []):
        holder = session.scalar(
            select(CareWorker.ref).join(CareWorkerMobile)
            .where(CareWorkerMobile.number == number, CareWorker.ref != ref))
        if holder is not None:
            raise InvalidRota.of(f"mobiles[{index}]",
                                 f"{number} is already registered to care worker {holder}")
    before = _care_worker_state(care_worker) if care_worker is not None else {}
    desired: dict[str, Any] = {
        "staff_number": data.staff_number,
        "given_name": data.given_name,
        "family_name": data.family_name,
        "mobiles": sorted(data.mobiles) if data.mobiles is not None
        else before.get("mobiles", []),
        "language": data.language or before.get("language", "en"),
        "branch": data.branch if data.branch is not None else before.get("branch", ""),
        "active": data.active if data.active is not None else before.get("active", True),
    }
    if care_worker is None:
        care_worker = CareWorker(ref=ref, created_at=now, updated_at=now)
        session.add(care_worker)
        change: Change = "created"
    else:
        change = "updated"
    changes: dict[str, Any] = _diff(before, desired)
    if data.pin is not None and not verify_pin(care_worker.pin_hash, data.pin, settings.pin_pepper):
        changes["pin"] = "reset" if care_worker.pin_hash else "set"
    if not changes:
        return Upserted("unchanged", care_worker_view(care_worker))
    care_worker.staff_number = data.staff_number
    care_worker.given_name = data.given_name
    care_worker.family_name = data.family_name
    care_worker.language = desired["language"]
    care_worker.branch = desired["branch"]
    care_worker.active = desired["active"]
    care_worker.updated_at = now
    if "pin" in changes and data.pin is not None:
        care_worker.pin_hash = hash_pin(data.pin, settings.pin_pepper)
    if "mobiles" in changes:
        wanted = set(desired["mobiles"])
        care_worker.mobiles = [m for m in care_worker.mobiles if m.number in wanted]
        have = {m.number for m in care_worker.mobiles}
        care_worker.mobiles.extend(
            CareWorkerMobile(number=n) for n in data.mobiles or [] if n not in have)
    session.flush()
    _audit(session, now, actor, "create" if change == "created" else "update", "care_worker",
           ref, {"changes": changes})
    record_care_worker_changed(session, care_worker, now)
    return Upserted(change, care_worker_view(care_worker), sorted(changes))


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


def _visit_state(visit: PlannedVisit) -> dict[str, Any]:
    return {
        "adult_ref": visit.adult.ref,
        "care_worker_refs": sorted(c.ref for c in visit.care_workers),
        "planned_start": visit.planned_start.isoformat(),
        "planned_end": visit.planned_end.isoformat(),
        "status": str(visit.status.value),
        "cancel_reason": visit.cancel_reason,
        "cancel_note": visit.cancel_note,
        "time_critical": visit.time_critical,
    }


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
    ref = check_ref(ref)
    problems: list[FieldProblem] = []
    adult = session.scalar(select(Adult).where(Adult.ref == data.adult_ref))
    if adult is None:
        problems.append(FieldProblem(
            "adult_ref", f"there is no adult with ref {data.adult_ref!r}; send the adult first"))
    care_workers: list[CareWorker] = []
    for index, carer_ref in enumerate(data.care_worker_refs):
        care_worker = session.scalar(select(CareWorker).where(CareWorker.ref == carer_ref))
        if care_worker is None:
            problems.append(FieldProblem(
                f"care_worker_refs[{index}]",
                f"there is no care worker with ref {carer_ref!r}; send the care worker first"))
        else:
            care_workers.append(care_worker)
    if problems:
        raise InvalidRota("; ".join(f"{p.field}: {p.message}" for p in problems), problems)
    assert adult is not None
    visit = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == ref))
    before = _visit_state(visit) if visit is not None else {}
    desired: dict[str, Any] = {
        "adult_ref": adult.ref,
        "care_worker_refs": sorted(c.ref for c in care_workers),
        "planned_start": data.planned_start.isoformat(),
        "planned_end": data.planned_end.isoformat(),
        "status": str(data.status.value),
        "cancel_reason": data.cancel_reason,
        "cancel_note": data.cancel_note,
        "time_critical": data.time_critical,
    }
    changes = _diff(before, desired)
    if visit is not None and not changes:
        return Upserted("unchanged", planned_visit_view(visit))
    change: Change = "updated"
    if visit is None:
        visit = PlannedVisit(ref=ref, created_at=now)
        session.add(visit)
        change = "created"
    visit.adult = adult
    visit.care_workers = care_workers
    visit.planned_start = data.planned_start
    visit.planned_end = data.planned_end
    visit.status = data.status
    visit.cancel_reason = data.cancel_reason
    visit.cancel_note = data.cancel_note
    visit.time_critical = data.time_critical
    visit.updated_at = now
    session.flush()
    if change == "updated" and {"planned_start", "planned_end"} & set(changes):
        _follow_new_times(session, visit)
    action = "create" if change == "created" else (
        "cancel" if "status" in changes and desired["status"] == "cancelled" else "update")
    _audit(session, now, actor, action, "planned_visit", ref, {"changes": changes})
    record_planned_visit_changed(session, visit, now)
    return Upserted(change, planned_visit_view(visit), sorted(changes))


def _follow_new_times(session: Session, visit: PlannedVisit) -> None:
    # Carers already logged in are chased for their log-out from the new times (deadlines.py).
    for actual in session.scalars(select(ActualVisit).where(
            ActualVisit.planned_visit_id == visit.id,
            ActualVisit.state == ActualVisitState.OPEN)):
        actual.expected_end_at = expected_end(visit.planned_start, visit.planned_end,
                                              actual.started_at)


def get_planned_visit(session: Session, ref: str) -> PlannedVisitView:
    """A planned visit by reference, or NotFound."""
    visit = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == ref))
    if visit is None:
        raise NotFound(f"There is no planned visit with ref {ref!r}.")
    return planned_visit_view(visit)
