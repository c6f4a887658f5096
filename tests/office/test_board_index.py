"""The board's day index kept in the database: the scheduler judges the day, every web process
reads it (never judging the day for its counts), a stale index falls back, two schedulers at once
leave one consistent index."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.models import Alert
from ivr_gateway.escalation.tick import run_escalation_tick
from ivr_gateway.models import PlannedVisit, VisitException, VisitStatus
from ivr_gateway.office import board, board_index, board_page
from ivr_gateway.office import reason_codes as office_reason_codes
from ivr_gateway.office.board import board_rows, count_rows
from ivr_gateway.office.board_index import (
    BoardDayIndex,
    entry_of,
    row_key,
    run_board_index,
    stored_index,
)
from ivr_gateway.office.escalation_alerts import EscalationAlertSource
from ivr_gateway.visits import queries
from ivr_gateway.visits.queries import visits_for_day
from tests.escalation.conftest import make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import play
from tests.office.conftest import Office
from tests.twilio_client import TwilioClient

SEVEN_AM = datetime(2026, 1, 13, 7, 0, tzinfo=UTC)  # a Tuesday; GMT, so London = UTC
DAY = SEVEN_AM.date()
JOAN, EDITH, OLGA = "+441134960001", "+441134960003", "+441134960009"


@pytest.fixture(autouse=True)
def _clean_process() -> None:
    board_page.forget_indexes()  # each test is a new web process


def _morning(session: Session) -> None:
    """Joan (V1) and Edith (V3) at 07:00 with Amy and Ben; Harold's 04:00 visit (V2) nobody
    came to; Joan's double-up at 12:00 (V4); a visit yesterday (Y1). Olga has no visit."""
    joan = make_adult(session, ref="A1", landlines=(JOAN,), client_number="100001")
    harold = make_adult(session, ref="A2", given_name="Harold", family_name="Brown",
                        landlines=("+441134960002",), client_number="100002")
    edith = make_adult(session, ref="A3", given_name="Edith", family_name="Clarke",
                       landlines=(EDITH,), client_number="100003")
    make_adult(session, ref="A9", given_name="Olga", family_name="North", landlines=(OLGA,),
               client_number="100009")
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="5678")
    ben = make_care_worker(session, ref="C2", staff_number="2345", pin="6190",
                           given_name="Ben", family_name="Taylor")
    make_planned_visit(session, joan, [amy], start=SEVEN_AM, ref="V1")
    make_planned_visit(session, harold, [amy], start=SEVEN_AM - timedelta(hours=3), ref="V2")
    make_planned_visit(session, edith, [ben], start=SEVEN_AM, ref="V3")
    make_planned_visit(session, joan, [amy, ben], start=SEVEN_AM + timedelta(hours=5),
                       ref="V4")
    make_planned_visit(session, edith, [ben], start=SEVEN_AM - timedelta(days=1), ref="Y1")
    session.commit()


def _tick(database: Database, settings: Settings, clock: FixedClock) -> list[object]:
    """One run of the scheduler's board-index job."""
    return list(run_board_index(database, settings, clock, EscalationAlertSource(settings)))


def _assert_index_is_a_fresh_judgement(database: Database, settings: Settings,
                                       clock: FixedClock, viewer: str = "office:cora"
                                       ) -> dict[str, board_index.IndexEntry]:
    """The stored index, entry for entry, is what judging the whole day now says."""
    board_index.forget_stored()
    alerts = EscalationAlertSource(settings)
    with database.unit_of_work() as db:
        stored = stored_index(db, DAY, clock.now())
        assert stored is not None and stored.built_at == clock.now()
        rows = board_rows(db, visits_for_day(db, DAY, settings, clock.now()), DAY, settings,
                          alerts, viewer)
    assert stored.entries == {row_key(r): entry_of(r) for r in rows}
    assert stored.counts(viewer) == count_rows(rows)
    return stored.entries


@pytest.fixture(params=["whole", "changes"])
def rebuilds(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test twice: every rebuild judging the whole day, and every rebuild after the first
    judging only what changed (refresh_day's two ways)."""
    monkeypatch.setattr(board_index, "WHOLE_EVERY",
                        timedelta(0) if request.param == "whole" else timedelta(days=1))
    return str(request.param)


def _judged_whole_at(database: Database) -> datetime:
    with database.unit_of_work() as db:
        row = db.get(BoardDayIndex, DAY)
        assert row is not None
        return row.whole_built_at


def test_the_index_follows_log_ins_corrections_alerts_reason_codes_checks_and_the_clock(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database, settings: Settings, rebuilds: str) -> None:
    _morning(session)
    make_ladder(session, SEVEN_AM - timedelta(hours=1))
    clock.set(SEVEN_AM - timedelta(minutes=5))
    assert _tick(database, settings, clock) == [DAY, DAY - timedelta(days=1)]
    entries = _assert_index_is_a_fresh_judgement(database, settings, clock)
    assert entries["p:V1"].outcome == "scheduled" and entries["p:V2"].outcome == "missed"
    assert "attention" in entries["p:V2"].matches  # nobody went, no reason code yet
    assert _tick(database, settings, clock) == []  # nothing changed, not a minute old

    clock.set(SEVEN_AM + timedelta(minutes=2))  # Amy logs in at Joan's
    play(twilio, JOAN, "1234", "5678")
    clock.set(SEVEN_AM + timedelta(minutes=3))  # ... and Ben at Olga's: not on the rota
    play(twilio, OLGA, "2345", "6190")
    _tick(database, settings, clock)
    entries = _assert_index_is_a_fresh_judgement(database, settings, clock)
    assert entries["p:V1"].outcome == "in_progress"
    assert [e.outcome for k, e in entries.items() if k.startswith("u:")] == ["in_progress"]

    # The clock alone: Edith's visit passes its late threshold; no data changed.
    clock.set(SEVEN_AM + timedelta(minutes=31))
    assert _tick(database, settings, clock) == [DAY, DAY - timedelta(days=1)]
    entries = _assert_index_is_a_fresh_judgement(database, settings, clock)
    assert entries["p:V3"].outcome == "late_start" and "late" in entries["p:V3"].matches

    # The escalation tick raises alerts; the office acknowledges Edith's.
    run_escalation_tick(database, settings, clock)
    with database.unit_of_work() as db:
        [edith_alert] = [a.id for a in db.scalars(select(Alert)) if a.summary.startswith("E.C.")]
        harolds = [a.id for a in db.scalars(select(Alert)) if a.summary.startswith("H.B.")]
    as_coordinator.post(f"/office/alerts/{edith_alert}/acknowledge", {"note": "rang Ben"})
    _tick(database, settings, clock)
    entries = _assert_index_is_a_fresh_judgement(database, settings, clock)
    assert entries["p:V3"].ackers == {"office:cora"} and "attention" not in entries["p:V3"].matches

    # A reason code for Harold's missed visit, and a correction of Amy's log-out at Joan's.
    clock.set(SEVEN_AM + timedelta(minutes=40))
    for alert in harolds:
        as_coordinator.post(f"/office/alerts/{alert}/acknowledge", {"note": "rang his son"})
    as_coordinator.post("/office/visits/V2/reason", {"code": "client_in_hospital"})
    as_coordinator.post("/office/visits/V1/correct", {
        "care_worker": "C1", "log_in": "2026-01-13T07:02", "log_out": "2026-01-13T07:35",
        "reason": "Amy rang: her phone was flat"})
    _tick(database, settings, clock)
    entries = _assert_index_is_a_fresh_judgement(database, settings, clock)
    assert "attention" not in entries["p:V2"].matches
    assert entries["p:V1"].outcome == "completed"

    # The clock again: Edith's visit is missed two hours after its planned start.
    clock.set(SEVEN_AM + timedelta(hours=2, minutes=1))
    _tick(database, settings, clock)
    entries = _assert_index_is_a_fresh_judgement(database, settings, clock)
    assert entries["p:V3"].outcome == "missed"
    assert _judged_whole_at(database) == (
        clock.now() if rebuilds == "whole" else SEVEN_AM - timedelta(minutes=5))


def test_an_unverified_log_in_its_check_and_a_rota_change_move_the_index(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database, settings: Settings, rebuilds: str) -> None:
    _morning(session)
    clock.set(SEVEN_AM)
    _tick(database, settings, clock)
    clock.set(SEVEN_AM + timedelta(minutes=1))
    play(twilio, "anonymous", "100001", "1234", "5678")  # withheld: keys the client number
    _tick(database, settings, clock)
    assert "unverified" in _assert_index_is_a_fresh_judgement(
        database, settings, clock)["p:V1"].matches
    with database.unit_of_work() as db:
        exception = db.scalars(select(VisitException)).one()
    clock.advance(minutes=5)
    as_coordinator.post(f"/office/exceptions/{exception.id}/check", {"note": "rang Joan"})
    _tick(database, settings, clock)
    assert "unverified" not in _assert_index_is_a_fresh_judgement(
        database, settings, clock)["p:V1"].matches
    # The rota: a visit moves to tomorrow, another is cancelled, a new one arrives.
    clock.advance(minutes=1)
    with database.unit_of_work() as db:
        moved, cancelled = (db.scalars(select(PlannedVisit).where(PlannedVisit.ref == ref))
                            .one() for ref in ("V4", "V3"))
        moved.planned_start += timedelta(days=1)
        moved.planned_end += timedelta(days=1)
        moved.updated_at = cancelled.updated_at = clock.now()
        cancelled.status = VisitStatus.CANCELLED
    make_planned_visit(session, make_adult(session, ref="A8", given_name="Nora",
                                           landlines=("+441134960008",)),
                       [], start=SEVEN_AM + timedelta(hours=3), ref="NEW")
    session.commit()
    _tick(database, settings, clock)
    entries = _assert_index_is_a_fresh_judgement(database, settings, clock)
    assert "p:V4" not in entries and "p:NEW" in entries
    assert entries["p:V3"].outcome == "cancelled"


def _count(page: str, name: str) -> int:
    match = re.search(rf'<strong>(\d+)</strong> {name}<', page)
    assert match, f"the board shows no {name} count"
    return int(match.group(1))


def _refs(page: str) -> list[str]:
    return re.findall(r'<tr class="row-[^"]*" data-ref="([^"]*)"', page)


def _heads(page: str) -> list[str]:
    return re.findall(r'<th scope="rowgroup" colspan="7">([^<]*)</th>', page)


def _never_the_whole_day(monkeypatch: pytest.MonkeyPatch) -> None:
    def whole_day(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the web process judged the whole day")
    for module in (board, board_index, office_reason_codes, queries):
        monkeypatch.setattr(module, "visits_for_day", whole_day)


def test_a_web_process_with_a_stored_index_never_judges_the_day_not_even_its_first_request(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(board_page, "SMALL_DAY", 1)  # any day is "big"
    _morning(session)
    clock.set(SEVEN_AM + timedelta(minutes=3))
    play(twilio, OLGA, "2345", "6190")  # Ben at Olga's: an unplanned visit
    clock.set(SEVEN_AM + timedelta(minutes=31))
    _tick(database, settings, clock)
    _never_the_whole_day(monkeypatch)

    page = as_coordinator.get("/office/").get_data(as_text=True)
    assert _count(page, "late") == 2 and _count(page, "missed") == 1  # V1 and V3; V2
    assert _count(page, "in progress") == 1  # Ben at Olga's
    assert "counts as of" not in page  # the index is as new as the rows
    assert _refs(page)[:4] == ["V2", "V1", "V3", "V4"]
    assert "Unplanned, in progress" in page  # Ben at Olga's, judged with the page
    late = as_coordinator.get("/office/?status=late").get_data(as_text=True)
    assert _refs(late) == ["V1", "V3"]
    assert "Unplanned, in progress" in as_coordinator.get("/office/?q=olga").get_data(
        as_text=True)
    assert as_coordinator.get("/office/board/live").status_code == 200
    # Paged by the database: the unplanned visit follows the planned ones onto the next page.
    monkeypatch.setattr(board_page, "PAGE_SIZE", 3)
    second = as_coordinator.get("/office/?page=2").get_data(as_text=True)
    assert _refs(second) == ["V4", ""] and "Unplanned, in progress" in second
    # Grouped by carer, paged by the database too: the double-up V4 under both carers, Ben's
    # unplanned visit at Olga's (07:03) under Ben, in time order; a heading on each page.
    grouped = as_coordinator.get("/office/?group=carer").get_data(as_text=True)
    assert _refs(grouped) == ["V2", "V1", "V4"] and _heads(grouped) == ["Amy Jones"]
    assert "page 1 of 2" in grouped
    grouped = as_coordinator.get("/office/?group=carer&page=2").get_data(as_text=True)
    assert _refs(grouped) == ["V3", "", "V4"] and _heads(grouped) == ["Ben Taylor"]
    late = as_coordinator.get("/office/?group=carer&status=late").get_data(as_text=True)
    assert _refs(late) == ["V1", "V3"] and _heads(late) == ["Amy Jones", "Ben Taylor"]

    # A minute on, the rows are judged now and the counts say they are the index's.
    clock.set(SEVEN_AM + timedelta(minutes=32))
    later = as_coordinator.get("/office/").get_data(as_text=True)
    assert "counts as of 07:31:00" in later


def test_a_stale_index_falls_back_to_judging_the_day_in_the_web_process(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database,
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(board_page, "SMALL_DAY", 1)
    _morning(session)
    clock.set(SEVEN_AM + timedelta(minutes=10))
    _tick(database, settings, clock)  # then the scheduler stops
    clock.set(SEVEN_AM + timedelta(minutes=31))  # 21 minutes on: Joan's and Edith's late
    with database.unit_of_work() as db:
        assert stored_index(db, DAY, clock.now()) is None  # too old to show
        assert db.get(BoardDayIndex, DAY) is not None
    page = as_coordinator.get("/office/").get_data(as_text=True)
    assert _count(page, "late") == 2  # judged in the request, not the index of 07:10
    assert "counts as of" not in page


@pytest.mark.postgres_only
def test_two_schedulers_at_once_leave_one_consistent_index(
        session: Session, clock: FixedClock, database: Database, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _morning(session)
    clock.set(SEVEN_AM + timedelta(minutes=31))
    inside, other_done = threading.Event(), threading.Event()
    build = board_index.build_index

    def slow_build(*args: object, **kwargs: object) -> board_index.DayIndex:
        if threading.current_thread().name == "first":
            inside.set()  # holding the lock, mid-judgement
            assert other_done.wait(10)
        return build(*args, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(board_index, "build_index", slow_build)
    results: dict[str, list[object]] = {}

    def scheduler() -> None:
        results[threading.current_thread().name] = _tick(database, settings, clock)
    first = threading.Thread(target=scheduler, name="first")
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=scheduler, name="second")
    second.start()
    second.join(10)
    other_done.set()
    first.join(10)
    assert results == {"first": [DAY, DAY - timedelta(days=1)], "second": []}
    _assert_index_is_a_fresh_judgement(database, settings, clock)


def test_the_scheduler_process_and_the_demo_run_the_board_index_job(
        settings: Settings, database: Database, clock: FixedClock) -> None:
    from ivr_gateway.cli import scheduler_with_every_job

    scheduler = scheduler_with_every_job(settings, database, clock, background=True)
    job = scheduler.get_job("board-index")
    assert job is not None and job.trigger.interval == timedelta(
        seconds=board_index.BUILD_SECONDS)



def test_the_council_window_closing_at_the_clients_next_visit_moves_the_index(
        as_coordinator: Office, session: Session, clock: FixedClock, database: Database,
        settings: Settings, rebuilds: str) -> None:
    _morning(session)
    joan = session.scalars(select(PlannedVisit).where(PlannedVisit.ref == "V1")).one().adult
    make_planned_visit(session, joan, [], start=SEVEN_AM + timedelta(minutes=45), ref="V5")
    session.commit()
    make_ladder(session, SEVEN_AM - timedelta(hours=1))
    clock.set(SEVEN_AM + timedelta(minutes=31))  # Joan's 07:00 visit late: its alert taken
    run_escalation_tick(database, settings, clock)
    with database.unit_of_work() as db:
        joans = [a.id for a in db.scalars(select(Alert)) if a.summary.startswith("J.S.")]
    for alert in joans:
        as_coordinator.post(f"/office/alerts/{alert}/acknowledge", {"note": "rang Amy"})
    _tick(database, settings, clock)
    assert "attention" not in _assert_index_is_a_fresh_judgement(
        database, settings, clock)["p:V1"].matches
    clock.set(SEVEN_AM + timedelta(minutes=40))  # a quiet build: nothing changed since
    _tick(database, settings, clock)
    # 07:46: her next visit has begun, so KPI 3 counts V1 missed and wants a reason code (the
    # clock alone: no data changed since the last build).
    clock.set(SEVEN_AM + timedelta(minutes=46))
    _tick(database, settings, clock)
    assert "attention" in _assert_index_is_a_fresh_judgement(
        database, settings, clock)["p:V1"].matches
