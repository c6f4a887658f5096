"""What the office does to a carer's record: unlock, a new PIN, mobiles and language.

Each goes through the rota service (audited, and sent to the council where it matters); a
refusal is an ActionRefused in the office's words.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ivr_gateway.config import Settings
from ivr_gateway.models import AuditEntry, CareWorker
from ivr_gateway.rota import service as rota
from ivr_gateway.rota.schemas import CareWorkerIn, validation_context
from ivr_gateway.visits.errors import ActionRefused


def find_care_worker(db: Session, ref: str) -> CareWorker:
    """The carer with this reference, their mobiles loaded; LookupError if none."""
    carer = db.scalar(select(CareWorker).where(CareWorker.ref == ref)
                      .options(selectinload(CareWorker.mobiles)))
    if carer is None:
        raise LookupError("There is no such carer.")
    return carer


def left_on(db: Session, carer: CareWorker, settings: Settings) -> date | None:
    """The local day the rota marked this carer as a leaver (active true to false), from the
    audit trail; None if they are working, or it is not known (created as a leaver)."""
    if carer.active:
        return None
    for entry in db.scalars(select(AuditEntry).where(
            AuditEntry.entity == "care_worker", AuditEntry.entity_ref == carer.ref)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())):
        changes = (entry.detail or {}).get("changes") or {}
        if list(changes.get("active") or []) == [True, False]:
            return entry.at.astimezone(settings.tz).date()
    return None


def unlock_care_worker(db: Session, ref: str, *, now: datetime, actor: str) -> None:
    """Lift a carer's PIN lockout."""
    try:
        rota.unlock_care_worker(db, ref, now=now, actor=actor)
    except rota.RotaError as error:
        raise ActionRefused(error.message) from None


def set_pin(db: Session, ref: str, pin: str, again: str, *, settings: Settings,
            now: datetime, actor: str) -> None:
    """A new PIN for a carer, typed twice."""
    if pin != again:
        raise ActionRefused("The two PINs differ; type the same PIN twice.")
    try:
        carer = find_care_worker(db, ref)
        rota.set_care_worker_pin(db, carer.staff_number, pin, settings=settings, now=now,
                                 actor=actor)
    except LookupError as missing:
        raise ActionRefused(str(missing)) from None
    except rota.RotaError as error:
        raise ActionRefused(error.message) from None


def update_details(db: Session, ref: str, mobiles_typed: str, language: str | None, *,
                   settings: Settings, now: datetime, actor: str) -> None:
    """Change a carer's mobiles (one a line, or comma-separated) and prompt language."""
    try:
        carer = find_care_worker(db, ref)
    except LookupError as missing:
        raise ActionRefused(str(missing)) from None
    mobiles = [m.strip() for m in mobiles_typed.replace(",", "\n").splitlines() if m.strip()]
    try:
        data = CareWorkerIn.model_validate({
            "staff_number": carer.staff_number, "given_name": carer.given_name,
            "family_name": carer.family_name, "mobiles": mobiles,
            "language": language or carer.language, "branch": carer.branch,
            "active": carer.active,
        }, context=validation_context(settings))
        rota.upsert_care_worker(db, ref, data, settings=settings, now=now, actor=actor)
    except ValidationError as error:
        raise ActionRefused("; ".join(f"{p.field}: {p.message}"
                                      for p in rota.problems_from(error))) from None
    except rota.RotaError as error:
        raise ActionRefused(error.message) from None
