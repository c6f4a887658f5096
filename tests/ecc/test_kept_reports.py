"""KPI reports kept for the dashboard: the same report as build_kpi_report, current until its
own data or the clock changes it, and worked out by one worker per range at a time."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

from sqlalchemy import select

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import KpiWindows, Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc import kept_reports
from ivr_gateway.ecc.kept_reports import (
    FRESH_FOR,
    LEASE,
    KeptState,
    claim_report,
    clock_moves_at,
    report_for_download,
    report_for_page,
    report_of,
    settings_key,
)
from ivr_gateway.ecc.kpi import KpiReport, build_kpi_report
from ivr_gateway.ecc.models import KeptKpiReport
from ivr_gateway.models import Adult, CareWorker
from ivr_gateway.visits.reason_codes import record_reason_code
from tests.ecc.conftest import log
from tests.ecc.test_kpi import DAY, _hand_made_day, _visit_in_out, at
from tests.factories import make_adult, make_care_worker, make_planned_visit

NEXT_MORNING = at(9, day=date(2026, 1, 14))  # the day after DAY: its windows have closed


def _double_up_day(database: Database) -> None:
    """With _hand_made_day: a double-up at Dot's that Amy came to alone (short of a carer)."""
    with database.unit_of_work() as session:
        dot = make_adult(session, ref="DOT", given_name="Dot", family_name="Hill",
                         landlines=("+441134960004",))
        amy, ben = (session.scalars(select(CareWorker).where(CareWorker.ref == ref)).one()
                    for ref in ("AMY", "BEN"))
        make_planned_visit(session, dot, [amy, ben], start=at(17), ref="D-ALONE")
        _visit_in_out(session, amy.id, dot.id, at(17), at(17, 30))


def _kept(database: Database, settings: Settings, clock: FixedClock, first: date = DAY,
          last: date = DAY) -> KeptState:
    """The page's state once the range's worker has finished (it runs on a thread)."""
    deadline = time.monotonic() + 30
    state = report_for_page(database, settings, clock, first, last, inline_below=0)
    while state.working or state.report is None or state.stale:
        assert time.monotonic() < deadline, "the report was not worked out within 30 s"
        assert state.error is None, state.error
        time.sleep(0.02)
        state = report_for_page(database, settings, clock, first, last, inline_below=0)
    return state


def _fresh(database: Database, settings: Settings, now: datetime, first: date = DAY,
           last: date = DAY) -> KpiReport:
    with database.unit_of_work() as session:
        return build_kpi_report(session, first, last, settings, now)


def _row(database: Database) -> KeptKpiReport:
    with database.unit_of_work() as session:
        row = session.scalars(select(KeptKpiReport)).one()
        session.expunge(row)
        return row


def test_the_kept_report_read_back_is_build_kpi_report_s_own_output(
        database: Database, settings: Settings, clock: FixedClock) -> None:
    _hand_made_day(database)
    _double_up_day(database)
    clock.set(NEXT_MORNING)
    state = _kept(database, settings, clock)
    fresh = _fresh(database, settings, clock.now())
    row = _row(database)
    assert row.figures is not None and row.lines is not None
    kept = report_of(row.figures, row.lines)
    assert kept == fresh  # every line, figure, definition and the "as of", read back whole
    assert len(kept.visits) > 10 and kept.total.missed and kept.total.short_of_carer
    # The page reads the figures alone (no visit lines); the files read it whole.
    assert state.report == report_of(row.figures) and state.report.visits == []
    assert state.as_of == fresh.generated_at and state.kept and state.ready
    assert report_for_download(database, settings, clock, DAY, DAY) == fresh


def test_the_clock_alone_changes_no_verdict_before_clock_moves_at(
        database: Database, settings: Settings, clock: FixedClock) -> None:
    _hand_made_day(database)
    _double_up_day(database)
    # Under way, windows open: verdicts move any minute, so the report is kept for a minute.
    for now in (at(7), at(12), at(22, 30)):
        assert clock_moves_at(_fresh(database, settings, now)) == now + FRESH_FOR
    # Every window closed: nothing moves until the moment it names (or ever, for None).
    for now in (NEXT_MORNING, at(9, day=date(2026, 1, 15)), at(9, day=date(2026, 1, 20))):
        report = _fresh(database, settings, now)
        moves_at = clock_moves_at(report)
        later = _fresh(database, settings, moves_at or now + timedelta(days=30))
        assert (later.visits, later.total, later.by_carer) == (
            report.visits, report.total, report.by_carer), now
    due = min(v.reason_due_at for v in _fresh(database, settings, NEXT_MORNING).visits
              if v.reason_status == kept_reports.ReasonStatus.OUTSTANDING
              and v.reason_due_at is not None)
    assert clock_moves_at(_fresh(database, settings, NEXT_MORNING)) == due
    after = _fresh(database, settings, due + timedelta(seconds=1))
    assert after.visits != _fresh(database, settings, due).visits  # it did move just after
    assert clock_moves_at(_fresh(database, settings, at(9, day=date(2026, 1, 20)))) is None


def test_a_past_report_stays_current_while_other_days_change_and_not_when_its_own_do(
        database: Database, settings: Settings, clock: FixedClock) -> None:
    _hand_made_day(database)
    clock.set(at(9, day=date(2026, 1, 20)))  # a week on: nothing of DAY's moves by the clock
    first = _kept(database, settings, clock)
    assert _row(database).moves_at is None
    # Today's work (a week after DAY) is not DAY's: the kept report stays current, and its
    # feed position moves on past what was looked at.
    with database.unit_of_work() as session:
        today_client = make_adult(session, ref="TODAY", landlines=("+441134960077",))
        carer = make_care_worker(session, ref="TODAY-C", staff_number="7777")
        make_planned_visit(session, today_client, [carer], start=clock.now(), ref="T-1")
        log(session, carer.id, today_client.id, clock.now())
    before = _row(database).feed_id
    again = report_for_page(database, settings, clock, DAY, DAY, inline_below=0)
    assert again.ready and not again.working and again.as_of == first.as_of
    assert _row(database).feed_id > before
    # A reason code recorded for one of DAY's visits is DAY's data: stale, shown as of before.
    clock.advance(minutes=5)
    with database.unit_of_work() as session:
        record_reason_code(session, "J-MISSED", "client_in_hospital", "", settings=settings,
                           now=clock.now(), actor="office:cora")
    stale = report_for_page(database, settings, clock, DAY, DAY, inline_below=0)
    assert stale.stale and stale.report is not None and stale.as_of == first.as_of
    assert stale.working  # this look started the next one
    refreshed = _kept(database, settings, clock)
    assert refreshed.as_of == clock.now()
    row = _row(database)
    assert row.figures is not None and row.lines is not None
    missed = next(v for v in report_of(row.figures, row.lines).visits if v.ref == "J-MISSED")
    assert missed.reason_code == "client_in_hospital"
    assert missed.reason_status == kept_reports.ReasonStatus.LATE  # recorded a week on


def test_a_renamed_carer_makes_the_report_stale(database: Database, settings: Settings,
                                                 clock: FixedClock) -> None:
    _hand_made_day(database)
    clock.set(at(9, day=date(2026, 1, 20)))
    _kept(database, settings, clock)
    clock.advance(minutes=1)
    with database.unit_of_work() as session:
        amy = session.scalars(select(CareWorker).where(CareWorker.ref == "AMY")).one()
        amy.family_name, amy.updated_at = "Jones-Hart", clock.now()
    assert report_for_page(database, settings, clock, DAY, DAY, inline_below=0).stale
    report = _kept(database, settings, clock).report
    assert report is not None and "AMY Amy Jones-Hart" in report.by_carer


def test_one_worker_at_a_time_per_range_and_a_dead_worker_s_lease_runs_out(
        database: Database, settings: Settings, clock: FixedClock) -> None:
    key = settings_key(settings)
    first = claim_report(database, DAY, DAY, key, clock.now())
    assert first is not None
    assert claim_report(database, DAY, DAY, key, clock.now()) is None  # the row exists, held
    assert claim_report(database, DAY, DAY + timedelta(days=1), key, clock.now()) is not None
    # While the lease holds, the page says it is being worked out and starts nobody else.
    state = report_for_page(database, settings, clock, DAY, DAY, inline_below=0)
    assert state.working and state.report is None and state.started_at == clock.now()
    assert _row_for(database, DAY, DAY).lease_by == first
    clock.set(clock.now() + LEASE + timedelta(seconds=1))  # that worker died with its web process
    taken = claim_report(database, DAY, DAY, key, clock.now())
    assert taken is not None and taken != first


def _row_for(database: Database, first: date, last: date) -> KeptKpiReport:
    with database.unit_of_work() as session:
        row = session.scalars(select(KeptKpiReport).where(
            KeptKpiReport.first_day == first, KeptKpiReport.last_day == last)).one()
        session.expunge(row)
        return row


def test_other_kpi_windows_keep_their_own_report(database: Database, settings: Settings,
                                                   clock: FixedClock) -> None:
    _hand_made_day(database)
    clock.set(NEXT_MORNING)
    _kept(database, settings, clock)
    stricter = settings.with_overrides(kpi=KpiWindows(late_after=10))
    assert settings_key(stricter) != settings_key(settings)
    state = report_for_page(database, stricter, clock, DAY, DAY, inline_below=0)
    assert state.report is None and state.working  # not the other windows' report
    assert _kept(database, stricter, clock).report == report_of(
        kept_reports.figures_json(_fresh(database, stricter, clock.now())))


def test_a_small_range_is_worked_out_in_the_request_and_not_kept(
        database: Database, settings: Settings, clock: FixedClock) -> None:
    _hand_made_day(database)
    clock.set(NEXT_MORNING)
    state = report_for_page(database, settings, clock, DAY, DAY)
    assert state.ready and not state.kept and state.report == _fresh(database, settings,
                                                                     clock.now())
    with database.unit_of_work() as session:
        assert session.scalars(select(KeptKpiReport)).all() == []
        assert session.scalars(select(Adult)).first() is not None


def test_of_many_simultaneous_claims_on_a_range_exactly_one_wins(
        database: Database, settings: Settings, clock: FixedClock) -> None:
    # Eight connections at once (web workers asked for the same range): the row's unique key
    # and the lease's conditional UPDATE let one through, on PostgreSQL and SQLite alike.
    key, start = settings_key(settings), threading.Barrier(8)

    def claim() -> str | None:
        start.wait()
        return claim_report(database, DAY, DAY, key, clock.now())
    for _round in range(2):  # first the INSERT race, then (the lease run out) the UPDATE race
        with ThreadPoolExecutor(8) as pool:
            won = [w for w in pool.map(lambda _: claim(), range(8)) if w is not None]
        assert len(won) == 1
        assert _row_for(database, DAY, DAY).lease_by == won[0]
        clock.set(clock.now() + LEASE + timedelta(seconds=1))
