"""Loading the rota: adults, care workers and planned visits in one batch, answered item by item.

The one way the rota is written: a single PUT is a batch of one, the batch endpoint carries up to
1,000 records, and the CSV import hands its rows over as one batch. Items are taken in dependency
order (adults, then care workers, then planned visits), so a visit may name an adult or a carer
sent earlier in the same batch.

Made for a county's day (2,000 clients, 2,000 carers, 10,000 visits): every check is planned
before anything is written, with one SELECT per kind for all the batch's references (not one per
item); a record whose stored state equals the one sent is left alone (no write, no audit row, no
outbox row); new records are inserted together, and their audit and outbox rows too. A PIN is
hashed only when one is given and differs from the stored one.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar, cast

from sqlalchemy import any_, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ivr_gateway.config import Settings
from ivr_gateway.hashing import hash_pin, verify_pin
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    AdultLandline,
    AdultLandlinePeriod,
    AuditEntry,
    CareWorker,
    CareWorkerMobile,
    PlannedVisit,
    PlannedVisitCareWorker,
)
from ivr_gateway.rota.problems import Change, FieldProblem, InvalidRota, RotaError, check_ref
from ivr_gateway.rota.schemas import AdultIn, CareWorkerIn, PlannedVisitIn
from ivr_gateway.visits.changes import RotaRecord, record_rota_changes
from ivr_gateway.visits.deadlines import expected_end

Kind = RotaRecord
KINDS: tuple[Kind, ...] = ("adult", "care_worker", "planned_visit")
Mode = Literal["all_or_nothing", "per_item"]
ItemStatus = Literal["created", "updated", "unchanged", "invalid", "skipped"]

MAX_BATCH_ITEMS = 1000
_CHUNK = 900  # references per IN (...): well under SQLite's bound-parameter limit

_LABEL = {"adult": "adult", "care_worker": "care worker", "planned_visit": "planned visit"}
T = TypeVar("T")


@dataclass
class RotaItem:
    """One record to load: its kind, the caller's reference and the validated input.

    ``data`` is None when the input did not validate; ``problems`` then says why.
    """

    kind: Kind
    ref: str
    data: AdultIn | CareWorkerIn | PlannedVisitIn | None
    problems: list[FieldProblem] = field(default_factory=list)
    index: int = 0


@dataclass
class ItemResult:
    """What became of one item: created, updated, unchanged, invalid, or skipped.

    ``change`` is what the item did (or, when nothing was stored, would have done); ``record`` is
    the stored row for a single upsert's answer.
    """

    index: int
    kind: Kind
    ref: str
    status: ItemStatus
    change: Change | None = None
    message: str = ""
    fields: list[FieldProblem] = field(default_factory=list)
    changed_fields: list[str] = field(default_factory=list)
    record: Any = None


@dataclass
class LoadResult:
    """Every item's result in the order sent, and whether anything was stored."""

    results: list[ItemResult]
    stored: bool

    @property
    def invalid(self) -> list[ItemResult]:
        """The items refused."""
        return [r for r in self.results if r.status == "invalid"]

    def counts(self) -> dict[Kind, Counter[str]]:
        """How many of each kind were created, updated, unchanged, invalid, skipped."""
        counts: dict[Kind, Counter[str]] = {kind: Counter() for kind in KINDS}
        for result in self.results:
            counts[result.kind][result.status] += 1
        return counts


@dataclass
class _Plan:
    item: RotaItem
    record: Any
    desired: dict[str, Any]
    changes: dict[str, Any]
    is_new: bool = field(init=False)

    def __post_init__(self) -> None:
        self.is_new = self.record is None

    @property
    def change(self) -> Change:
        if self.is_new:
            return "created"
        return "updated" if self.changes else "unchanged"


@dataclass
class _People:
    """The stored adults and carers a batch's visits name, by ref."""

    adults: dict[str, Adult]
    carers: dict[str, CareWorker]


def _message(problems: Sequence[FieldProblem]) -> str:
    return "; ".join(f"{p.field}: {p.message}" for p in problems)


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _select_in(session: Session, query: Any, column: Any, values: Iterable[Any]) -> list[Any]:
    """Rows of `query` whose `column` is one of `values`: one statement (per 900 on SQLite)."""
    wanted = sorted(set(values))
    if not wanted:
        return []
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter: a short statement PostgreSQL and psycopg prepare once, where
        # IN (...) with 1,000 values is a new 1,000-parameter statement every time.
        array = bindparam("values", wanted, type_=ARRAY(column.type))
        return list(session.execute(query.where(column == any_(array))).all())
    rows: list[Any] = []
    for chunk in _chunks(wanted):
        rows += session.execute(query.where(column.in_(chunk))).all()
    return rows


def _audit_entry(now: datetime, actor: str, action: str, entity: str, ref: str,
                 detail: dict[str, Any]) -> dict[str, Any]:
    return {"at": now, "actor": actor[:100], "action": action, "entity": entity,
            "entity_ref": ref, "detail": detail}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Each key whose value differs: [before, after]."""
    return {key: [before.get(key), value] for key, value in after.items()
            if before.get(key) != value}


# ---------------------------------------------------------------- states (what is compared)


def adult_state(adult: Adult) -> dict[str, Any]:
    """A client's stored values, as compared with what is sent."""
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


def care_worker_state(care_worker: CareWorker) -> dict[str, Any]:
    """A carer's stored values (never the PIN), as compared with what is sent."""
    return {
        "staff_number": care_worker.staff_number,
        "given_name": care_worker.given_name,
        "family_name": care_worker.family_name,
        "mobiles": sorted(m.number for m in care_worker.mobiles),
        "language": care_worker.language,
        "branch": care_worker.branch,
        "active": care_worker.active,
    }


def visit_state(visit: PlannedVisit) -> dict[str, Any]:
    """A planned visit's stored values, as compared with what is sent."""
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


# ---------------------------------------------------------------- the batch


def load_rota(session: Session, items: Sequence[RotaItem], *, settings: Settings,
              now: datetime, actor: str, mode: Mode = "per_item",
              dry_run: bool = False) -> LoadResult:
    """Load a batch of rota records; every item is answered, in the order sent.

    ``per_item``: the valid items are stored and the invalid ones reported. ``all_or_nothing``:
    one invalid item and nothing is stored (the others are 'skipped', their ``change`` saying
    what they would have done). ``dry_run`` checks and reports, and stores nothing.
    """
    for index, item in enumerate(items):
        item.index = index
    results: dict[int, ItemResult] = {}

    def refuse(item: RotaItem, problems: list[FieldProblem]) -> None:
        results[item.index] = ItemResult(item.index, item.kind, item.ref, "invalid",
                                         message=_message(problems), fields=problems)

    live: dict[Kind, list[RotaItem]] = {kind: [] for kind in KINDS}
    seen: dict[tuple[Kind, str], int] = {}
    for item in sorted(items, key=lambda i: (KINDS.index(i.kind), i.index)):
        if item.problems or item.data is None:
            refuse(item, item.problems or [FieldProblem("body", "the item is not valid")])
            continue
        try:
            item.ref = check_ref(item.ref)
        except InvalidRota as error:
            refuse(item, error.fields)
            continue
        first = seen.setdefault((item.kind, item.ref), item.index)
        if first != item.index:
            refuse(item, [FieldProblem("ref", f"{_LABEL[item.kind]} {item.ref} is already item "
                                       f"{first} of this request; send each record once")])
            continue
        live[item.kind].append(item)

    adult_plans = _plan_adults(session, live["adult"], refuse)
    carer_plans = _plan_care_workers(session, live["care_worker"], settings, refuse)
    people = _People({}, {})
    visit_plans = _plan_visits(session, live["planned_visit"], adult_plans, carer_plans, refuse,
                               people)
    plans = adult_plans + carer_plans + visit_plans

    refused = len(results)
    stored = not dry_run and not (refused and mode == "all_or_nothing")
    if stored:
        _store(session, adult_plans, carer_plans, visit_plans, people, settings=settings,
               now=now, actor=actor)
    for plan in plans:
        item = plan.item
        status: ItemStatus = plan.change if stored or dry_run else "skipped"
        message = "" if status != "skipped" else (
            f"not stored: {refused} item(s) of this request are invalid and the mode is "
            "all_or_nothing")
        results[item.index] = ItemResult(item.index, item.kind, item.ref, status, plan.change,
                                         message=message, changed_fields=sorted(plan.changes),
                                         record=plan.record)
    return LoadResult([results[index] for index in range(len(items))], stored)


def _other_holder(ref: str, stored: str | None, in_batch: str | None) -> str | None:
    # Who else holds a unique value: a stored record, or an earlier item of this batch.
    return next((holder for holder in (stored, in_batch) if holder not in (None, ref)), None)


def _plan_adults(session: Session, items: list[RotaItem],
                 refuse: Callable[[RotaItem, list[FieldProblem]], None]) -> list[_Plan]:
    stored = {a.ref: a for (a,) in _select_in(
        session, select(Adult).options(selectinload(Adult.landlines)), Adult.ref,
        [i.ref for i in items])}
    numbers = [cast(AdultIn, i.data).client_number for i in items]
    holders = dict(_select_in(session, select(Adult.client_number, Adult.ref),
                              Adult.client_number, [n for n in numbers if n]))
    claimed: dict[str, str] = {}
    plans = []
    for item in items:
        data = cast(AdultIn, item.data)
        if data.client_number is not None:
            holder = _other_holder(item.ref, holders.get(data.client_number),
                                   claimed.get(data.client_number))
            if holder is not None and holder != item.ref:
                refuse(item, [FieldProblem(
                    "client_number",
                    f"client number {data.client_number} already belongs to adult {holder}; "
                    "leave it out to have one generated")])
                continue
            claimed[data.client_number] = item.ref
        adult = stored.get(item.ref)
        before = adult_state(adult) if adult is not None else {}
        desired: dict[str, Any] = {
            "client_number": data.client_number or before.get("client_number"),
            "given_name": data.given_name,
            "family_name": data.family_name,
            "address": data.address if data.address is not None else before.get("address", ""),
            "postcode": data.postcode if data.postcode is not None
            else before.get("postcode", ""),
            "landlines": sorted(data.landlines),
            "rag": str(data.rag.value),
            "active": data.active if data.active is not None else before.get("active", True),
        }
        plans.append(_Plan(item, adult, desired, diff(before, desired)))
    return plans


def _plan_care_workers(session: Session, items: list[RotaItem], settings: Settings,
                       refuse: Callable[[RotaItem, list[FieldProblem]], None]) -> list[_Plan]:
    stored = {c.ref: c for (c,) in _select_in(
        session, select(CareWorker).options(selectinload(CareWorker.mobiles)), CareWorker.ref,
        [i.ref for i in items])}
    datas = [cast(CareWorkerIn, i.data) for i in items]
    staff_holders = dict(_select_in(session, select(CareWorker.staff_number, CareWorker.ref),
                                    CareWorker.staff_number, [d.staff_number for d in datas]))
    mobile_holders = dict(_select_in(
        session, select(CareWorkerMobile.number, CareWorker.ref).join(CareWorker),
        CareWorkerMobile.number, [n for d in datas for n in d.mobiles or []]))
    claimed_staff: dict[str, str] = {}
    claimed_mobiles: dict[str, str] = {}
    plans = []
    for item, data in zip(items, datas, strict=True):
        holder = _other_holder(item.ref, staff_holders.get(data.staff_number),
                               claimed_staff.get(data.staff_number))
        if holder is not None and holder != item.ref:
            refuse(item, [FieldProblem(
                "staff_number", f"staff number {data.staff_number} already belongs to care "
                f"worker {holder}; each carer needs their own")])
            continue
        problems = []
        for index, number in enumerate(data.mobiles or []):
            holder = _other_holder(item.ref, mobile_holders.get(number),
                                   claimed_mobiles.get(number))
            if holder is not None and holder != item.ref:
                problems.append(FieldProblem(
                    f"mobiles[{index}]", f"{number} is already registered to care worker "
                    f"{holder}"))
        if problems:
            refuse(item, problems[:1])
            continue
        claimed_staff[data.staff_number] = item.ref
        for number in data.mobiles or []:
            claimed_mobiles[number] = item.ref
        care_worker = stored.get(item.ref)
        before = care_worker_state(care_worker) if care_worker is not None else {}
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
        changes: dict[str, Any] = diff(before, desired)
        pin_hash = care_worker.pin_hash if care_worker is not None else None
        # Only a PIN that is given costs a hash check (argon2id, ~1 ms).
        if data.pin is not None and not verify_pin(pin_hash, data.pin, settings.pin_pepper):
            changes["pin"] = "reset" if pin_hash else "set"
        plans.append(_Plan(item, care_worker, desired, changes))
    return plans


def _plan_visits(session: Session, items: list[RotaItem], adult_plans: list[_Plan],
                 carer_plans: list[_Plan],
                 refuse: Callable[[RotaItem, list[FieldProblem]], None],
                 people: _People) -> list[_Plan]:
    # `people` receives the stored adults and carers the visits name, so storing the visits
    # needs no second look-up.
    datas = [cast(PlannedVisitIn, i.data) for i in items]
    batch_adults = {p.item.ref for p in adult_plans}
    batch_carers = {p.item.ref for p in carer_plans}
    for (adult,) in _select_in(session, select(Adult), Adult.ref,
                               [d.adult_ref for d in datas if d.adult_ref not in batch_adults]):
        people.adults[adult.ref] = adult
    for (carer,) in _select_in(session, select(CareWorker), CareWorker.ref,
                               [r for d in datas for r in d.care_worker_refs
                                if r not in batch_carers]):
        people.carers[carer.ref] = carer
    known_adults = batch_adults | set(people.adults)
    known_carers = batch_carers | set(people.carers)
    stored = {v.ref: v for (v,) in _select_in(
        session, select(PlannedVisit).options(joinedload(PlannedVisit.adult),
                                              selectinload(PlannedVisit.care_workers)),
        PlannedVisit.ref, [i.ref for i in items])}
    plans = []
    for item, data in zip(items, datas, strict=True):
        problems = []
        if data.adult_ref not in known_adults:
            problems.append(FieldProblem(
                "adult_ref", f"there is no adult with ref {data.adult_ref!r}; send the adult "
                "first"))
        for index, carer_ref in enumerate(data.care_worker_refs):
            if carer_ref not in known_carers:
                problems.append(FieldProblem(
                    f"care_worker_refs[{index}]", f"there is no care worker with ref "
                    f"{carer_ref!r}; send the care worker first"))
        if problems:
            refuse(item, problems)
            continue
        visit = stored.get(item.ref)
        before = visit_state(visit) if visit is not None else {}
        desired: dict[str, Any] = {
            "adult_ref": data.adult_ref,
            "care_worker_refs": sorted(data.care_worker_refs),
            "planned_start": data.planned_start.isoformat(),
            "planned_end": data.planned_end.isoformat(),
            "status": str(data.status.value),
            "cancel_reason": data.cancel_reason,
            "cancel_note": data.cancel_note,
            "time_critical": data.time_critical,
        }
        plans.append(_Plan(item, visit, desired, diff(before, desired)))
    return plans


# ---------------------------------------------------------------- writing


def _new_client_numbers(session: Session, settings: Settings, count: int,
                        taken: set[str]) -> list[str]:
    digits = settings.client_number_digits
    low = 10 ** (digits - 1)
    found: list[str] = []
    for _ in range(50):
        wanted = count - len(found)
        if wanted <= 0:
            break
        candidates = {str(low + secrets.randbelow(9 * low)) for _ in range(wanted)} - taken
        used = {n for (n,) in _select_in(session, select(Adult.client_number),
                                         Adult.client_number, candidates)}
        free = sorted(candidates - used)
        found += free
        taken |= set(free)
    if len(found) < count:
        raise RotaError("No free client number could be found; set CLIENT_NUMBER_DIGITS higher.")
    return found[:count]


def _store(session: Session, adult_plans: list[_Plan], carer_plans: list[_Plan],
           visit_plans: list[_Plan], people: _People, *, settings: Settings, now: datetime,
           actor: str) -> None:
    audits: list[dict[str, Any]] = []
    announced: list[tuple[RotaRecord, str]] = []

    def note(plan: _Plan, entity: RotaRecord, action: str | None = None) -> None:
        action = action or ("create" if plan.change == "created" else "update")
        audits.append(_audit_entry(now, actor, action, entity, plan.item.ref,
                                   {"changes": plan.changes}))
        announced.append((entity, plan.item.ref))

    # Adults.
    landline_changes: list[tuple[_Plan, list[Any]]] = []
    unnumbered = [p for p in adult_plans if p.desired["client_number"] is None]
    taken = {p.desired["client_number"] for p in adult_plans if p.desired["client_number"]}
    for plan, number in zip(unnumbered, _new_client_numbers(session, settings, len(unnumbered),
                                                            taken), strict=True):
        plan.desired["client_number"] = number
        plan.changes["client_number"] = [None, number]
    for plan in adult_plans:
        if plan.change == "unchanged":
            continue
        adult_in = cast(AdultIn, plan.item.data)
        adult = plan.record
        if adult is None:
            adult = plan.record = Adult(ref=plan.item.ref, created_at=now)
            adult.landlines = [AdultLandline(number=n) for n in adult_in.landlines]
            session.add(adult)
            plan.changes = diff({}, plan.desired)
        elif "landlines" in plan.changes:
            wanted = set(adult_in.landlines)
            adult.landlines = [line for line in adult.landlines if line.number in wanted]
            have = {line.number for line in adult.landlines}
            adult.landlines.extend(AdultLandline(number=n) for n in adult_in.landlines
                                   if n not in have)
        for name in ("client_number", "given_name", "family_name", "address", "postcode",
                     "active"):
            setattr(adult, name, plan.desired[name])
        adult.rag = adult_in.rag
        adult.updated_at = now
        if "landlines" in plan.changes:
            landline_changes.append((plan, plan.changes["landlines"]))
        note(plan, "adult")

    session.flush()
    _record_landline_periods(session, landline_changes, now)

    # Care workers.
    for plan in carer_plans:
        if plan.change == "unchanged":
            continue
        carer_in = cast(CareWorkerIn, plan.item.data)
        care_worker = plan.record
        if care_worker is None:
            care_worker = plan.record = CareWorker(ref=plan.item.ref, created_at=now)
            care_worker.mobiles = [CareWorkerMobile(number=n) for n in plan.desired["mobiles"]]
            session.add(care_worker)
        elif "mobiles" in plan.changes:
            wanted = set(plan.desired["mobiles"])
            care_worker.mobiles = [m for m in care_worker.mobiles if m.number in wanted]
            have = {m.number for m in care_worker.mobiles}
            care_worker.mobiles.extend(CareWorkerMobile(number=n) for n in carer_in.mobiles or []
                                       if n not in have)
        for name in ("staff_number", "given_name", "family_name", "language", "branch",
                     "active"):
            setattr(care_worker, name, plan.desired[name])
        if "pin" in plan.changes and carer_in.pin is not None:
            care_worker.pin_hash = hash_pin(carer_in.pin, settings.pin_pepper)
        care_worker.updated_at = now
        note(plan, "care_worker")
    session.flush()

    # Planned visits: their adults and carers are this batch's records or stored ones.
    changed = [p for p in visit_plans if p.change != "unchanged"]
    adults = people.adults | {p.item.ref: p.record for p in adult_plans}
    carers = people.carers | {p.item.ref: p.record for p in carer_plans}
    moved: list[PlannedVisit] = []
    rebooked: list[_Plan] = []
    new_rows: list[dict[str, Any]] = []
    for plan in changed:
        visit_in = cast(PlannedVisitIn, plan.item.data)
        values = {"adult_id": adults[visit_in.adult_ref].id,
                  "planned_start": visit_in.planned_start, "planned_end": visit_in.planned_end,
                  "status": visit_in.status, "cancel_reason": visit_in.cancel_reason,
                  "cancel_note": visit_in.cancel_note, "time_critical": visit_in.time_critical,
                  "updated_at": now}
        cancelled = "status" in plan.changes and plan.desired["status"] == "cancelled"
        note(plan, "planned_visit", "cancel" if cancelled else None)
        if plan.is_new or "care_worker_refs" in plan.changes:
            rebooked.append(plan)
        if plan.is_new:
            # New visits go in as rows (one INSERT ... RETURNING for the batch), not objects:
            # the unit of work's bookkeeping per object was most of a batch's time.
            new_rows.append({"ref": plan.item.ref, "created_at": now, **values})
            continue
        visit = plan.record
        if {"planned_start", "planned_end"} & set(plan.changes):
            moved.append(visit)
        # Ids, not relationships: assigning objects costs a cascade walk per visit.
        for name, value in values.items():
            setattr(visit, name, value)
        if "adult_ref" in plan.changes:
            set_committed_value(visit, "adult", adults[visit_in.adult_ref])
    session.flush()
    ids: dict[str, int] = {}
    if new_rows:
        ids = {ref: id_ for id_, ref in session.execute(
            insert(PlannedVisit).returning(PlannedVisit.id, PlannedVisit.ref), new_rows)}
    _book_carers(session, rebooked, carers, ids)
    session.flush()
    if moved:
        _follow_new_times(session, moved)
    if audits:  # one executemany INSERT: the rows are not needed as objects
        session.execute(insert(AuditEntry), audits)
    record_rota_changes(session, announced, now)
    session.flush()


def _book_carers(session: Session, plans: list[_Plan], carers: dict[str, Any],
                 new_ids: dict[str, int]) -> None:
    # The carers of new visits and of visits whose carers changed, in one DELETE and INSERT.
    if not plans:
        return
    old = [p.record.id for p in plans if not p.is_new]
    for chunk in _chunks(old):
        session.execute(delete(PlannedVisitCareWorker)
                        .where(PlannedVisitCareWorker.planned_visit_id.in_(chunk)))
    session.execute(insert(PlannedVisitCareWorker), [
        {"planned_visit_id": new_ids[p.item.ref] if p.is_new else p.record.id,
         "care_worker_id": carers[ref].id}
        for p in plans for ref in cast(PlannedVisitIn, p.item.data).care_worker_refs])
    for plan in plans:  # read again from the rows when next asked for
        if not plan.is_new:
            session.expire(plan.record, ["care_workers"])


def _record_landline_periods(session: Session, changes: list[tuple[_Plan, list[Any]]],
                             now: datetime) -> None:
    # Each number added opens a period, each removed closes its open one (models.py). A client
    # with no periods yet (stored before they were kept) gets its numbers' periods from its
    # creation first, so its earlier calls keep their numbers.
    changed_ids = [plan.record.id for plan, (before, _after) in changes if before]
    recorded = {i for (i,) in _select_in(session, select(AdultLandlinePeriod.adult_id),
                                         AdultLandlinePeriod.adult_id, changed_ids)}
    backfill = [{"adult_id": plan.record.id, "number": n, "valid_from": plan.record.created_at}
                for plan, (before, _after) in changes
                if before and plan.record.id not in recorded for n in before]
    if backfill:
        session.execute(insert(AdultLandlinePeriod), backfill)
    closing: list[tuple[int, str]] = []
    opening: list[dict[str, Any]] = []
    for plan, (before, after) in changes:
        adult_id = plan.record.id
        closing += [(adult_id, n) for n in set(before or []) - set(after)]
        opening += [{"adult_id": adult_id, "number": n, "valid_from": now}
                    for n in sorted(set(after) - set(before or []))]
    for adult_id, number in closing:
        session.execute(update(AdultLandlinePeriod).where(
            AdultLandlinePeriod.adult_id == adult_id, AdultLandlinePeriod.number == number,
            AdultLandlinePeriod.valid_until.is_(None)).values(valid_until=now))
    if opening:
        session.execute(insert(AdultLandlinePeriod), opening)


def _follow_new_times(session: Session, visits: list[PlannedVisit]) -> None:
    # Carers already logged in are chased for their log-out from the new times (deadlines.py).
    by_id = {v.id: v for v in visits}
    for (actual,) in _select_in(
            session, select(ActualVisit).where(ActualVisit.state == ActualVisitState.OPEN),
            ActualVisit.planned_visit_id, by_id):
        visit = by_id[actual.planned_visit_id]
        actual.expected_end_at = expected_end(visit.planned_start, visit.planned_end,
                                              actual.started_at)
