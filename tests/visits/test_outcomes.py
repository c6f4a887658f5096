"""Outcomes of planned visits from their evidence, including across the clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ivr_gateway.config import KpiWindows, Settings
from ivr_gateway.ecc import kpi
from ivr_gateway.models import ActualVisit, ActualVisitState, Verification
from ivr_gateway.visits.outcomes import (
    CarerTimes,
    Outcome,
    VisitOutcome,
    all_carers_from,
    assess_visit,
)
from ivr_gateway.visits.queries import local_day_bounds, visits_for_day
from tests.factories import make_adult, make_care_worker, make_planned_visit

LONDON = ZoneInfo("Europe/London")
KPI = KpiWindows()
START = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)


def _at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def _done(start: float, end: float, carer: int = 1) -> CarerTimes:
    return CarerTimes(_at(start), _at(end), open=False, care_worker_id=carer)


def _in(start: float, carer: int = 1) -> CarerTimes:
    return CarerTimes(_at(start), None, open=True, care_worker_id=carer)


def _assess(carers: list[CarerTimes], now: datetime, *, cancelled: bool = False,
            start: datetime = START, end: datetime = END, needed: int = 1) -> VisitOutcome:
    return assess_visit(start, end, cancelled, carers, now, KPI, carers_needed=needed)


# --- Not started -------------------------------------------------------------------------------

def test_visit_not_yet_due_is_scheduled() -> None:
    result = _assess([], _at(-10))
    assert result.outcome == Outcome.SCHEDULED
    assert result.minutes_late is None and result.actual_start is None


def test_visit_not_started_within_30_minutes_is_a_late_start() -> None:
    assert _assess([], _at(30)).outcome == Outcome.SCHEDULED  # exactly 30: not yet late
    result = _assess([], _at(31))
    assert result.outcome == Outcome.LATE_START
    assert result.minutes_late == 31


def test_visit_not_started_within_2_hours_is_missed() -> None:
    result = _assess([], _at(120))
    assert result.outcome == Outcome.MISSED
    assert result.minutes_late == 120


def test_cancelled_visit_is_cancelled_whatever_the_time() -> None:
    assert _assess([], _at(500), cancelled=True).outcome == Outcome.CANCELLED


# --- Started -----------------------------------------------------------------------------------

def test_logged_in_visit_is_in_progress_until_the_log_out_is_overdue() -> None:
    carers = [CarerTimes(_at(2), None, open=True, care_worker_id=1)]
    during = _assess(carers, _at(20))
    assert during.outcome == Outcome.IN_PROGRESS
    assert during.actual_start == _at(2) and not during.log_out_overdue
    # Logged in 2 minutes late, the carer gives the full 30 minutes: chased at 09:32 + 15 min.
    assert not _assess(carers, _at(47)).log_out_overdue
    assert _assess(carers, _at(48)).log_out_overdue


def test_an_early_log_in_is_chased_from_the_planned_end() -> None:
    carers = [CarerTimes(_at(-10), None, open=True, care_worker_id=1)]
    assert not _assess(carers, _at(45)).log_out_overdue  # planned end + 15 min exactly
    assert _assess(carers, _at(46)).log_out_overdue


def test_a_red_clients_log_out_is_chased_in_half_the_time() -> None:
    carers = [CarerTimes(_at(0), None, open=True, care_worker_id=1)]
    windows = KpiWindows()
    at = _at(38)  # planned end 09:30 + 7.5 min
    assert assess_visit(_at(0), _at(30), False, carers, at, windows, red=True).log_out_overdue
    assert not assess_visit(_at(0), _at(30), False, carers, at, windows).log_out_overdue


def test_visit_completed_on_time_is_not_late_nor_short() -> None:
    result = _assess([_done(2, 33)], _at(60))
    assert result.outcome == Outcome.COMPLETED
    assert (result.minutes_late, result.short) == (None, False)
    assert (result.actual_start, result.actual_end) == (_at(2), _at(33))


def test_visit_completed_late_says_minutes_late() -> None:
    result = _assess([_done(40, 72)], _at(90))
    assert result.outcome == Outcome.COMPLETED
    assert result.minutes_late == 40
    assert not result.short


def test_visit_shorter_than_commissioned_is_short() -> None:
    result = _assess([_done(0, 20)], _at(60))
    assert result.outcome == Outcome.COMPLETED
    assert result.short


def test_visit_without_log_out_is_incomplete_with_no_end() -> None:
    carers = [CarerTimes(_at(1), None, open=False, missing_log_out=True, care_worker_id=1)]
    result = _assess(carers, _at(300))
    assert result.outcome == Outcome.INCOMPLETE
    assert result.actual_end is None


def test_visit_started_beyond_the_missed_window_counts_as_missed() -> None:
    result = _assess([_done(125, 155)], _at(200))
    assert result.outcome == Outcome.MISSED
    assert result.minutes_late == 125


def test_double_up_takes_earliest_log_in_and_latest_log_out() -> None:
    result = _assess([_done(5, 30, carer=1), _done(1, 34, carer=2)], _at(60), needed=2)
    assert result.outcome == Outcome.COMPLETED
    assert (result.actual_start, result.actual_end) == (_at(1), _at(34))
    assert not result.short


def test_double_up_is_in_progress_while_either_carer_is_logged_in() -> None:
    result = _assess([_done(1, 25, carer=1), _in(2, carer=2)], _at(28), needed=2)
    assert result.outcome == Outcome.IN_PROGRESS


# --- Double-ups: delivered only from when all their carers were there ---------------------------

def test_double_up_with_one_carer_in_is_short_of_a_carer_until_the_second_comes() -> None:
    alone = _assess([_in(2, carer=1)], _at(10), needed=2)
    assert alone.outcome == Outcome.SHORT_OF_CARER
    assert (alone.carers_logged_in, alone.carers_needed) == (1, 2)
    assert (alone.actual_start, alone.actual_end) == (_at(2), None)
    both = _assess([_in(2, carer=1), _in(12, carer=2)], _at(15), needed=2)
    assert both.outcome == Outcome.IN_PROGRESS
    assert (both.carers_logged_in, both.actual_start) == (2, _at(2))


def test_double_up_one_carer_came_to_alone_stays_short_of_a_carer_not_completed() -> None:
    for now in (_at(40), _at(500)):  # before and long after the missed window: never missed
        result = _assess([_done(0, 30, carer=1)], now, needed=2)
        assert result.outcome == Outcome.SHORT_OF_CARER
        assert (result.actual_end, result.short, result.minutes_late) == (_at(30), False, None)


def test_double_up_whose_carers_were_never_there_together_is_short_of_a_carer() -> None:
    result = _assess([_done(0, 10, carer=1), _done(15, 30, carer=2)], _at(60), needed=2)
    assert result.outcome == Outcome.SHORT_OF_CARER
    assert (result.carers_logged_in, result.carers_needed) == (2, 2)


def test_double_up_lateness_is_from_when_both_carers_were_there() -> None:
    result = _assess([_done(0, 45, carer=1), _done(40, 45, carer=2)], _at(60), needed=2)
    assert result.outcome == Outcome.COMPLETED
    assert result.minutes_late == 40  # the first carer was on time, but alone until 09:40
    assert result.actual_start == _at(0)


def test_double_up_fully_staffed_only_after_the_missed_window_is_short_of_a_carer() -> None:
    result = _assess([_done(0, 150, carer=1), _done(130, 150, carer=2)], _at(200), needed=2)
    assert result.outcome == Outcome.SHORT_OF_CARER
    assert result.minutes_late == 130


def test_double_up_whose_first_carer_came_after_the_missed_window_is_missed() -> None:
    result = _assess([_done(125, 155, carer=1), _done(125, 155, carer=2)], _at(200), needed=2)
    assert result.outcome == Outcome.MISSED


def test_double_up_short_of_a_carer_still_chases_the_log_out() -> None:
    assert _assess([_in(0, carer=1)], _at(46), needed=2).log_out_overdue


def test_one_carer_logged_in_twice_is_still_one_carer() -> None:
    result = _assess([_done(0, 5, carer=1), _done(6, 30, carer=1)], _at(60), needed=2)
    assert (result.outcome, result.carers_logged_in) == (Outcome.SHORT_OF_CARER, 1)


def test_a_substitute_fills_a_double_up_place() -> None:
    # Carer 3 was not booked, but two carers were there together: the visit was staffed.
    result = _assess([_done(0, 30, carer=1), _done(1, 30, carer=3)], _at(60), needed=2)
    assert result.outcome == Outcome.COMPLETED


def test_the_kpi_report_judges_double_ups_with_the_same_function() -> None:
    # One rule, not two copies: the report and the board cannot drift apart.
    assert kpi.all_carers_from is all_carers_from


# --- Clock changes (Europe/London) -------------------------------------------------------------
# 00:30-03:30 London on the night the clocks change: 2 real hours in spring, 4 in autumn.

SPRING_START = datetime(2026, 3, 29, 0, 30, tzinfo=LONDON)  # 00:30 GMT
SPRING_END = datetime(2026, 3, 29, 3, 30, tzinfo=LONDON)  # 03:30 BST
AUTUMN_START = datetime(2026, 10, 25, 0, 30, tzinfo=LONDON)  # 00:30 BST
AUTUMN_END = datetime(2026, 10, 25, 3, 30, tzinfo=LONDON)  # 03:30 GMT


def test_spring_forward_night_visit_lasts_two_real_hours() -> None:
    wall_clock = SPRING_END - SPRING_START  # aware datetimes in one zone subtract naively
    assert wall_clock == timedelta(hours=3)
    assert SPRING_END.astimezone(UTC) - SPRING_START.astimezone(UTC) == timedelta(hours=2)
    start, end = SPRING_START.astimezone(UTC), SPRING_END.astimezone(UTC)
    carers = [CarerTimes(start, start + timedelta(hours=2), open=False, care_worker_id=1)]
    result = assess_visit(start, end, False, carers, end + timedelta(hours=1), KPI)
    assert result.outcome == Outcome.COMPLETED
    assert not result.short  # two real hours is the whole visit


def test_spring_forward_lateness_is_real_elapsed_minutes() -> None:
    start, end = SPRING_START.astimezone(UTC), SPRING_END.astimezone(UTC)
    log_in = datetime(2026, 3, 29, 2, 5, tzinfo=LONDON)  # 02:05 BST: 35 real minutes after
    carers = [CarerTimes(log_in.astimezone(UTC), None, open=True, care_worker_id=1)]
    result = assess_visit(start, end, False, carers, log_in.astimezone(UTC), KPI)
    assert result.outcome == Outcome.IN_PROGRESS
    assert result.minutes_late == 35


def test_spring_forward_not_started_is_missed_after_two_real_hours() -> None:
    start, end = SPRING_START.astimezone(UTC), SPRING_END.astimezone(UTC)
    at_3_20 = datetime(2026, 3, 29, 3, 20, tzinfo=LONDON).astimezone(UTC)  # 1 h 50 real
    assert assess_visit(start, end, False, [], at_3_20, KPI).outcome == Outcome.LATE_START
    at_3_30 = datetime(2026, 3, 29, 3, 30, tzinfo=LONDON).astimezone(UTC)  # 2 h real
    assert assess_visit(start, end, False, [], at_3_30, KPI).outcome == Outcome.MISSED


def test_fall_back_night_visit_lasts_four_real_hours() -> None:
    start, end = AUTUMN_START.astimezone(UTC), AUTUMN_END.astimezone(UTC)
    assert end - start == timedelta(hours=4)
    three_hours = [CarerTimes(start, start + timedelta(hours=3), open=False, care_worker_id=1)]
    result = assess_visit(start, end, False, three_hours, end + timedelta(hours=1), KPI)
    assert result.outcome == Outcome.COMPLETED
    assert result.short  # 3 real hours of a 4-hour visit, though the wall clock says 03:30
    four_hours = [CarerTimes(start, end, open=False, care_worker_id=1)]
    assert not assess_visit(start, end, False, four_hours, end, KPI).short


def test_fall_back_lateness_is_real_elapsed_minutes() -> None:
    start, end = AUTUMN_START.astimezone(UTC), AUTUMN_END.astimezone(UTC)
    # 01:10 GMT (the second 01:10 of the night) is 1 h 40 real minutes after 00:30 BST.
    log_in = datetime(2026, 10, 25, 1, 10, fold=1, tzinfo=LONDON).astimezone(UTC)
    assert log_in == datetime(2026, 10, 25, 1, 10, tzinfo=UTC)
    carers = [CarerTimes(log_in, log_in + timedelta(hours=2), open=False, care_worker_id=1)]
    result = assess_visit(start, end, False, carers, end, KPI)
    assert result.minutes_late == 100
    assert result.outcome == Outcome.COMPLETED


# --- A day's visits (visits_for_day) -----------------------------------------------------------

def test_london_day_bounds_are_23_and_25_hours_on_clock_change_days() -> None:
    settings = Settings()
    spring = local_day_bounds(date(2026, 3, 29), settings)
    autumn = local_day_bounds(date(2026, 10, 25), settings)
    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)
    assert autumn[0] == datetime(2026, 10, 24, 23, 0, tzinfo=UTC)


def _day_rota(session: Session, local_starts: dict[str, datetime]) -> None:
    adult = make_adult(session)
    carer = make_care_worker(session)
    for ref, start in local_starts.items():
        make_planned_visit(session, adult, [carer], start=start.astimezone(UTC), ref=ref)
    session.commit()


def _refs(session: Session, settings: Settings, day: date) -> list[str | None]:
    return [v.ref for v in visits_for_day(session, day, settings, datetime.now(UTC))]


def test_visits_for_spring_forward_sunday(session: Session, settings: Settings) -> None:
    _day_rota(session, {
        "SAT-2330": datetime(2026, 3, 28, 23, 30, tzinfo=LONDON),
        "SUN-0030": datetime(2026, 3, 29, 0, 30, tzinfo=LONDON),
        "SUN-0300": datetime(2026, 3, 29, 3, 0, tzinfo=LONDON),
        "SUN-2330": datetime(2026, 3, 29, 23, 30, tzinfo=LONDON),
        "MON-0030": datetime(2026, 3, 30, 0, 30, tzinfo=LONDON),
    })
    assert _refs(session, settings, date(2026, 3, 29)) == ["SUN-0030", "SUN-0300", "SUN-2330"]
    assert _refs(session, settings, date(2026, 3, 28)) == ["SAT-2330"]


def test_visits_for_fall_back_sunday(session: Session, settings: Settings) -> None:
    _day_rota(session, {
        "SAT-2330": datetime(2026, 10, 24, 23, 30, tzinfo=LONDON),  # 22:30 UTC
        "SUN-0030": datetime(2026, 10, 25, 0, 30, tzinfo=LONDON),  # 23:30 UTC on Saturday
        "SUN-0130-GMT": datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=LONDON),
        "SUN-2330": datetime(2026, 10, 25, 23, 30, tzinfo=LONDON),
        "MON-0030": datetime(2026, 10, 26, 0, 30, tzinfo=LONDON),
    })
    assert _refs(session, settings, date(2026, 10, 25)) == [
        "SUN-0030", "SUN-0130-GMT", "SUN-2330"]
    assert _refs(session, settings, date(2026, 10, 24)) == ["SAT-2330"]


def test_unplanned_visit_begun_at_local_midnight_belongs_to_one_day_only(
    session: Session, settings: Settings
) -> None:
    adult = make_adult(session)
    carer = make_care_worker(session)
    midnight = datetime(2026, 10, 26, 0, 0, tzinfo=LONDON).astimezone(UTC)
    session.add(ActualVisit(care_worker_id=carer.id, adult_id=adult.id, planned_visit_id=None,
                            state=ActualVisitState.OPEN, started_at=midnight,
                            in_verification=Verification.CALLER_ID, match_reason="unplanned",
                            created_at=midnight))
    session.commit()
    sunday = visits_for_day(session, date(2026, 10, 25), settings, midnight)
    monday = visits_for_day(session, date(2026, 10, 26), settings, midnight)
    assert [v.status for v in sunday] == []
    assert [(v.status, v.outcome) for v in monday] == [("unplanned", "in_progress")]


def test_visits_for_day_reports_double_up_outcome_from_both_carers(
    session: Session, settings: Settings
) -> None:
    adult = make_adult(session)
    amy = make_care_worker(session, staff_number="1111")
    bob = make_care_worker(session, staff_number="2222")
    visit = make_planned_visit(session, adult, [amy, bob], start=START, minutes=30, ref="DU")
    for carer, start, end in ((amy, _at(3), _at(31)), (bob, _at(-1), _at(29))):
        session.add(ActualVisit(care_worker_id=carer.id, adult_id=adult.id,
                                planned_visit_id=visit.id, state=ActualVisitState.CLOSED,
                                started_at=start, ended_at=end,
                                in_verification=Verification.CALLER_ID,
                                out_verification=Verification.CALLER_ID, match_reason="own",
                                created_at=start))
    session.commit()
    [summary] = visits_for_day(session, date(2026, 1, 13), settings, _at(60))
    assert summary.outcome == "completed"
    assert (summary.actual_start, summary.actual_end) == (_at(-1), _at(31))
    assert sorted(summary.care_worker_refs) == sorted([amy.ref, bob.ref])
    assert len(summary.actuals) == 2
