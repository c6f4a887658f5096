"""The carers and clients pages: a page of people at a time, found by name, number or phone.

A county has thousands of carers and clients: the pages show PAGE_SIZE at a time, in name
order, and a search matches every word typed against the name, the carer or client number, the
reference, or (a phone number typed in any form) a mobile or landline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from ivr_gateway import phones
from ivr_gateway.models import Adult, AdultLandline, CareWorker, CareWorkerMobile, PlannedVisit

PAGE_SIZE = 50
SEARCH_LONGEST = 100
T = TypeVar("T")


@dataclass(frozen=True)
class DirectoryPage(Generic[T]):
    """One page of people, and where it sits among all that match."""

    rows: Sequence[T]
    matching: int  # how many match the search (all, without one)
    page: int  # the page shown (the last one when asked for one past it)
    pages: int
    q: str

    @property
    def first(self) -> int:
        """The position of the first row shown (1-based), 0 when none."""
        return (self.page - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        """The position of the last row shown."""
        return self.first + len(self.rows) - 1 if self.rows else 0


def read_query(q: str | None, page: str | None) -> tuple[str, int]:
    """The search and page as typed in the address, odd values read as none and page 1."""
    try:
        number = max(1, int(page or "1"))
    except ValueError:
        number = 1
    return " ".join((q or "").split())[:SEARCH_LONGEST], number


def _matching(query: Select[Any], q: str, columns: list[Any], id_column: Any,
              by_phone: Select[Any], phone_column: Any) -> Select[Any]:
    """Every typed word in one of the columns (any case), or the phone number it spells."""
    for word in _phone_words(q):
        tests: list[ColumnElement[bool]] = [
            func.lower(c).contains(word.lower(), autoescape=True) for c in columns]
        number = phones.try_normalise(word) if any(ch.isdigit() for ch in word) else None
        if number is not None:
            tests.append(id_column.in_(by_phone.where(phone_column == number)))
        query = query.where(or_(*tests))
    return query


def _phone_words(q: str) -> list[str]:
    """The words of a search, a phone number typed with spaces ('07911 123450') kept whole."""
    joined = q.replace(" ", "")
    if joined.lstrip("+").isdigit() and phones.try_normalise(joined) is not None:
        return [joined]
    return q.split()


def _page(db: Session, query: Select[Any], q: str, page: int) -> DirectoryPage[Any]:
    matching = int(db.scalar(select(func.count()).select_from(
        query.order_by(None).subquery())) or 0)
    pages = max(1, math.ceil(matching / PAGE_SIZE))
    page = min(page, pages)
    rows = list(db.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return DirectoryPage(rows, matching, page, pages, q)


# Which carers the carers page lists: those still working (the default), leavers, or all.
# A leaver is a carer the rota marked inactive (rota/loading.py): their evidence is kept.
STANDINGS = {"working": "Working", "left": "Left", "all": "All carers"}


def read_standing(standing: str | None) -> str:
    """The carers asked for, an unknown value read as the default (those still working)."""
    return standing if standing in STANDINGS else "working"


def care_workers_page(db: Session, q: str, page: int, standing: str = "working"
                      ) -> DirectoryPage[CareWorker]:
    """A page of carers in name order, matching every word of `q` (name, number, mobile),
    those still working, those who left, or all (`standing`, STANDINGS)."""
    query = _matching(
        select(CareWorker).options(selectinload(CareWorker.mobiles)), q,
        [CareWorker.given_name, CareWorker.family_name, CareWorker.staff_number, CareWorker.ref],
        CareWorker.id, select(CareWorkerMobile.care_worker_id), CareWorkerMobile.number)
    if standing != "all":
        query = query.where(CareWorker.active.is_(standing == "working"))
    return _page(db, query.order_by(CareWorker.family_name, CareWorker.given_name,
                                    CareWorker.id), q, page)


def adults_page(db: Session, q: str, page: int) -> DirectoryPage[Adult]:
    """A page of clients in name order, matching every word of `q` (name, number, landline)."""
    query = _matching(
        select(Adult).options(selectinload(Adult.landlines)), q,
        [Adult.given_name, Adult.family_name, Adult.client_number, Adult.ref],
        Adult.id, select(AdultLandline.adult_id), AdultLandline.number)
    return _page(db, query.order_by(Adult.family_name, Adult.given_name, Adult.id), q, page)


UPCOMING_SHOWN = 20


@dataclass(frozen=True)
class ClientRecord:
    """One client's page: the client (landlines loaded) and their next visits."""

    adult: Adult
    upcoming: list[PlannedVisit]


def client_record(db: Session, ref: str, now: datetime) -> ClientRecord:
    """A client and their visits from yesterday on (the next UPCOMING_SHOWN); LookupError."""
    adult = db.scalar(select(Adult).where(Adult.ref == ref)
                      .options(selectinload(Adult.landlines)))
    if adult is None:
        raise LookupError("There is no such client.")
    visits = list(db.scalars(select(PlannedVisit).where(
        PlannedVisit.adult_id == adult.id, PlannedVisit.planned_start >= now - timedelta(days=1))
        .order_by(PlannedVisit.planned_start).limit(UPCOMING_SHOWN)))
    return ClientRecord(adult, visits)
