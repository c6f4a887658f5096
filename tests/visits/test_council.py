"""The council's KPI 3 verdict (visits/council.py) from plain values: no database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr_gateway.visits.council import (
    UNFILLED_PLACE,
    BookedCarer,
    ClientVisitSpan,
    CouncilVerdict,
    Timeliness,
    absent_carers,
    council_verdict,
    kpi3_window_closes_at,
    merged_into,
)
from ivr_gateway.visits.outcomes import CarerTimes

LONDON = ZoneInfo("Europe/London")
START = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)  # winter: London is UTC
LATER = datetime(2026, 1, 20, 9, 0, tzinfo=UTC)  # a week on: every window has closed


def _at(minutes: float, base: datetime = START) -> datetime:
    return base + timedelta(minutes=minutes)


def _done(start: float, end: float, carer: int = 1, base: datetime = START) -> CarerTimes:
    return CarerTimes(_at(start, base), _at(end, base), open=False, care_worker_id=carer)


def _judge(carers: Sequence[CarerTimes] = (), *, start: datetime = START,
           time_critical: bool = False, cancelled: bool = False, needed: int = 1,
           next_start: datetime | None = None, merged: str | None = None,
           now: datetime = LATER) -> CouncilVerdict:
    return council_verdict(planned_start=start, planned_end=start + timedelta(minutes=30),
                           time_critical=time_critical, cancelled=cancelled, carers=carers,
                           carers_needed=needed, next_planned_start=next_start,
                           merged_into=merged, now=now, tz=LONDON, late_after_minutes=30)


def test_a_visit_started_within_the_late_window_is_on_time_and_meets_kpi_3() -> None:
    verdict = _judge([_done(30, 60)])
    assert (verdict.timeliness, verdict.kpi3_met, verdict.because) == (
        Timeliness.ON_TIME, True, "")
    assert verdict.actual_start == verdict.all_carers_from == _at(30)


def test_a_visit_late_but_before_11_pm_and_the_next_visit_is_late_and_meets_kpi_3() -> None:
    verdict = _judge([_done(31, 60)])
    assert (verdict.timeliness, verdict.kpi3_met) == (Timeliness.LATE, True)


@pytest.mark.parametrize(("minutes", "timeliness", "met"), [
    (-31, Timeliness.LATE, False),  # too early fails too: +/- 30 either side
    (-30, Timeliness.ON_TIME, True),
    (30, Timeliness.ON_TIME, True),
    (31, Timeliness.LATE, False),
])
def test_a_time_critical_visit_must_start_within_30_minutes_either_side(
        minutes: int, timeliness: Timeliness, met: bool) -> None:
    verdict = _judge([_done(minutes, minutes + 30)], time_critical=True)
    assert (verdict.timeliness, verdict.kpi3_met) == (timeliness, met)


def test_an_unattended_time_critical_visit_is_missed_30_minutes_after_planned_start() -> None:
    assert _judge(time_critical=True, now=_at(29)).timeliness == Timeliness.PENDING
    verdict = _judge(time_critical=True, now=_at(30))
    assert (verdict.timeliness, verdict.because) == (Timeliness.MISSED, "not attended")
    assert verdict.window_closes_at == _at(30)


def test_an_unattended_visit_is_pending_until_its_window_closes_then_missed() -> None:
    next_start = _at(180)
    pending = _judge(next_start=next_start, now=_at(179))
    assert (pending.timeliness, pending.kpi3_met) == (Timeliness.PENDING, None)
    assert pending.window_closes_at == next_start
    missed = _judge(next_start=next_start, now=next_start)
    assert (missed.timeliness, missed.kpi3_met, missed.because) == (
        Timeliness.MISSED, False, "not attended")


def test_a_visit_started_after_the_next_planned_visit_began_is_missed() -> None:
    verdict = _judge([_done(125, 150)], next_start=_at(120))
    assert (verdict.timeliness, verdict.kpi3_met, verdict.because) == (
        Timeliness.MISSED, False, "started after the next planned visit's start")
    assert _judge([_done(119, 150)], next_start=_at(120)).timeliness == Timeliness.LATE


def test_a_cancelled_visit_is_in_no_rate() -> None:
    verdict = _judge([_done(0, 30)], cancelled=True)
    assert (verdict.timeliness, verdict.kpi3_met) == (Timeliness.CANCELLED, None)


SPRING = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # last Sunday of March: BST from 01:00 UTC
AUTUMN = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # last Sunday of October: GMT from 01:00 UTC


def test_11_pm_is_local_time_on_the_spring_clock_change_day() -> None:
    start = SPRING + timedelta(hours=21)  # 22:00 BST
    # 22:10 UTC is 23:10 in London: after 11 pm, though before 23:00 by the UTC clock.
    verdict = _judge([_done(70, 100, base=start)], start=start)
    assert (verdict.timeliness, verdict.because) == (Timeliness.MISSED, "started after 11 pm")
    assert verdict.window_closes_at == SPRING + timedelta(hours=22)
    assert _judge([_done(50, 80, base=start)], start=start).timeliness == Timeliness.LATE


def test_11_pm_is_local_time_on_the_autumn_clock_change_day() -> None:
    start = AUTUMN + timedelta(hours=22)  # 22:00 GMT, back on UTC after the 25-hour day
    # 22:50 UTC is 22:50 in London: before 11 pm (it would be after on a BST day).
    verdict = _judge([_done(50, 80, base=start)], start=start)
    assert (verdict.timeliness, verdict.kpi3_met) == (Timeliness.LATE, True)
    assert kpi3_window_closes_at(planned_start=start, time_critical=False,
                                 next_planned_start=None, tz=LONDON) == AUTUMN + timedelta(
        hours=23)
    late = _judge([_done(61, 80, base=start)], start=start)
    assert (late.timeliness, late.because) == (Timeliness.MISSED, "started after 11 pm")


def test_a_visit_merged_into_another_counts_as_missed() -> None:
    spans = [ClientVisitSpan(7, "BEN", _at(-45), _at(15)),  # the first visit, run on
             ClientVisitSpan(None, "CAT", _at(60), _at(90))]  # after this one's time
    merged = merged_into(planned_visit_id=8, planned_start=START, planned_end=_at(30),
                         spans=spans)
    assert merged == "BEN"
    verdict = _judge(merged=merged)
    assert (verdict.timeliness, verdict.kpi3_met, verdict.because) == (
        Timeliness.MISSED, False, "merged into the visit of BEN")
    assert _judge(merged=merged, now=_at(10)).timeliness == Timeliness.PENDING


def test_merged_into_looks_only_at_other_visits_covering_the_planned_time() -> None:
    own = ClientVisitSpan(8, "AMY", _at(0), _at(30))
    before = ClientVisitSpan(7, "BEN", _at(-60), _at(-1))
    open_later = ClientVisitSpan(None, "CAT", _at(31), None)  # no log-out: its log-in only
    assert merged_into(planned_visit_id=8, planned_start=START, planned_end=_at(30),
                       spans=[own, before, open_later]) is None
    first = ClientVisitSpan(None, "DAN", _at(10), _at(20))
    earlier = ClientVisitSpan(None, "EVE", _at(5), None)
    assert merged_into(planned_visit_id=8, planned_start=START, planned_end=_at(30),
                       spans=[first, earlier]) == "EVE"  # the earliest to start


def test_a_double_up_is_judged_from_when_all_its_carers_were_there() -> None:
    verdict = _judge([_done(0, 50, 1), _done(45, 55, 2)], needed=2)
    assert (verdict.timeliness, verdict.kpi3_met) == (Timeliness.LATE, True)
    assert (verdict.actual_start, verdict.all_carers_from) == (_at(0), _at(45))
    assert (verdict.carers_needed, verdict.carers_logged_in) == (2, 2)


def test_a_double_up_with_one_carer_is_pending_then_short_of_a_carer() -> None:
    alone = [_done(0, 30, 1)]
    next_start = _at(240)
    assert _judge(alone, needed=2, next_start=next_start,
                  now=_at(239)).timeliness == Timeliness.PENDING
    verdict = _judge(alone, needed=2, next_start=next_start, now=next_start)
    assert (verdict.timeliness, verdict.kpi3_met, verdict.because) == (
        Timeliness.SHORT_OF_CARER, False, "double-up: 1 of 2 carers logged in")
    apart = _judge([_done(0, 15, 1), _done(20, 35, 2)], needed=2)
    assert apart.because == "double-up: the 2 carers were never logged in at the same time"
    too_late = _judge([_done(0, 300, 1), _done(250, 300, 2)], needed=2, next_start=next_start)
    assert too_late.because == "double-up: all 2 carers were there only after the next " \
                               "planned visit's start"


def test_absent_carers_names_the_booked_carer_or_an_unfilled_place() -> None:
    booked = [BookedCarer(1, "AMY", "Amy Jones"), BookedCarer(2, "BEN", "Ben Jones")]
    assert absent_carers(booked, {1}, 2) == (("BEN", "Ben Jones"),)
    assert absent_carers(booked, {3}, 2) == (UNFILLED_PLACE,)  # a substitute came: whose place?
    assert absent_carers(booked, {1, 2}, 2) == ()
