"""Small factories for arranging rota data directly in the database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.hashing import hash_pin
from ivr_gateway.models import (
    Adult,
    AdultLandline,
    CareWorker,
    CareWorkerMobile,
    PlannedVisit,
    Rag,
    VisitStatus,
)

_seq = itertools.count(1)
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

# PIN hashing is deliberately slow; tests share one hash per PIN.
_pin_hashes: dict[str, str] = {}


def pin_hash(pin: str) -> str:
    """A cached argon2 hash of a PIN."""
    if pin not in _pin_hashes:
        _pin_hashes[pin] = hash_pin(pin, Settings().pin_pepper)
    return _pin_hashes[pin]


def make_adult(session: Session, *, given_name: str = "Joan", family_name: str = "Smith",
               landlines: tuple[str, ...] = ("+441134960001",), rag: Rag = Rag.GREEN,
               ref: str | None = None, client_number: str | None = None) -> Adult:
    """An active client with registered landlines."""
    n = next(_seq)
    adult = Adult(ref=ref or f"A{n:04d}", client_number=client_number or f"{100000 + n}",
                  given_name=given_name, family_name=family_name, address="1 High Street",
                  postcode="CM1 1AA", rag=rag, active=True, created_at=_EPOCH, updated_at=_EPOCH)
    adult.landlines = [AdultLandline(number=number) for number in landlines]
    session.add(adult)
    session.flush()
    return adult


def make_care_worker(session: Session, *, staff_number: str = "1234", pin: str = "5678",
                     given_name: str = "Amy", family_name: str = "Jones", language: str = "en",
                     mobiles: tuple[str, ...] = (), ref: str | None = None) -> CareWorker:
    """An active carer with a PIN."""
    n = next(_seq)
    care_worker = CareWorker(ref=ref or f"C{n:04d}", staff_number=staff_number,
                             given_name=given_name, family_name=family_name,
                             pin_hash=pin_hash(pin), language=language, branch="Chelmsford",
                             active=True, created_at=_EPOCH, updated_at=_EPOCH)
    care_worker.mobiles = [CareWorkerMobile(number=m) for m in mobiles]
    session.add(care_worker)
    session.flush()
    return care_worker


def make_planned_visit(session: Session, adult: Adult, care_workers: list[CareWorker], *,
                       start: datetime, minutes: int = 30, ref: str | None = None,
                       status: VisitStatus = VisitStatus.PLANNED,
                       time_critical: bool = False) -> PlannedVisit:
    """A planned visit for a client and its carers."""
    n = next(_seq)
    visit = PlannedVisit(ref=ref or f"V{n:05d}", adult=adult, planned_start=start,
                         planned_end=start + timedelta(minutes=minutes), status=status,
                         time_critical=time_critical, created_at=_EPOCH, updated_at=_EPOCH)
    visit.care_workers = list(care_workers)
    session.add(visit)
    session.flush()
    return visit
