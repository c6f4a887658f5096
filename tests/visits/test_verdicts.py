"""The domain's judgements of a visit, each by itself: deadlines, reason codes, the two verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ivr_gateway.config import KpiWindows, Settings
from ivr_gateway.visits.deadlines import (
    expected_end,
    late_at,
    log_out_chase_at,
    missed_at,
)
from ivr_gateway.visits.outcomes import CarerTimes, Outcome
from ivr_gateway.visits.reasons import ReasonStatus, RecordedReason, reason_needed, reason_standing
from ivr_gateway.visits.verdicts import VisitFacts, council_note, judge_visit

WINDOWS = KpiWindows()
SETTINGS = Settings(database_url="sqlite://")
START = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)  # 09:00 London, a Tuesday in winter
END = START + timedelta(minutes=30)


def _at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def _facts(*, carers: list[CarerTimes] | None = None, red: bool = False,
           time_critical: bool = False, cancelled: bool = False, needed: int = 1,
           next_start: datetime | None = None, merged: str | None = None,
           reason: RecordedReason | None = None) -> VisitFacts:
    return VisitFacts(planned_start=START, planned_end=END, cancelled=cancelled,
                      time_critical=time_critical, red=red, carers=carers or [],
                      carers_needed=needed, next_planned_start=next_start, merged_into=merged,
                      reason=reason)


# --- Deadlines ---------------------------------------------------------------------------------

def test_a_red_clients_late_and_missed_moments_come_at_half_the_time() -> None:
    assert late_at(START, WINDOWS, red=False) == _at(30)
    assert late_at(START, WINDOWS, red=True) == _at(15)
    assert missed_at(START, WINDOWS, red=False) == _at(120)
    assert missed_at(START, WINDOWS, red=True) == _at(60)


def test_the_log_out_chase_follows_a_late_log_in_but_never_comes_before_the_planned_end() -> None:
    assert expected_end(START, END, None) == END
    assert expected_end(START, END, _at(-5)) == END  # early: the planned end still holds
    assert expected_end(START, END, _at(40)) == _at(70)  # after the planned end: full 30 min
    assert log_out_chase_at(START, END, _at(40), WINDOWS, red=False) == _at(85)
    assert log_out_chase_at(START, END, _at(40), WINDOWS, red=True) == _at(77.5)


# --- Reason codes ------------------------------------------------------------------------------

def test_only_cancelled_and_missed_visits_need_a_reason_code() -> None:
    assert reason_needed(cancelled=True, delivered=False, office_missed=False,
                         council_timeliness="cancelled")
    assert reason_needed(cancelled=False, delivered=False, office_missed=True,
                         council_timeliness="missed")
    # Not delivered, missed for the office, the council's window still open: it will be
    # missed, so the office may give the reason now.
    assert reason_needed(cancelled=False, delivered=False, office_missed=True,
                         council_timeliness="pending")
    # Delivered 2.5 hours late but before 11 pm: late for the council, no reason code.
    assert not reason_needed(cancelled=False, delivered=True, office_missed=True,
                             council_timeliness="late")
    assert not reason_needed(cancelled=False, delivered=True, office_missed=False,
                             council_timeliness="short_of_carer")
    assert not reason_needed(cancelled=False, delivered=False, office_missed=False,
                             council_timeliness="pending")


def test_a_reason_code_is_on_time_up_to_the_deadline_and_late_after_it() -> None:
    due = START + timedelta(hours=48)
    assert reason_standing(True, START, 48, None, due).status is ReasonStatus.OUTSTANDING
    assert reason_standing(True, START, 48, None, due + timedelta(seconds=1)).status \
        is ReasonStatus.OVERDUE
    on_time = reason_standing(True, START, 48, RecordedReason("hospital", due), due)
    assert (on_time.status, on_time.code, on_time.due_at) == (ReasonStatus.ON_TIME, "hospital",
                                                              due)
    late = RecordedReason("hospital", due + timedelta(minutes=1))
    assert reason_standing(True, START, 48, late, due).status is ReasonStatus.LATE
    assert reason_standing(False, START, 48, late, due).status is ReasonStatus.NOT_NEEDED


def test_the_reason_code_deadline_is_one_setting() -> None:
    settings = Settings(database_url="sqlite://").with_overrides(
        kpi=KpiWindows(reason_code_due_hours=24))
    verdict = judge_visit(_facts(cancelled=True), _at(60), settings)
    assert verdict.reason.due_at == START + timedelta(hours=24)


# --- The two verdicts, side by side ------------------------------------------------------------

def test_a_red_client_nobody_came_to_is_late_at_15_minutes_and_missed_at_an_hour() -> None:
    assert judge_visit(_facts(red=True), _at(14), SETTINGS).outcome.outcome is Outcome.SCHEDULED
    assert judge_visit(_facts(red=True), _at(16), SETTINGS).outcome.outcome is Outcome.LATE_START
    missed = judge_visit(_facts(red=True), _at(61), SETTINGS)
    assert missed.outcome.outcome is Outcome.MISSED
    # The council's window (11 pm) is still open: pending for KPI 3, but the office knows.
    assert missed.council.timeliness == "pending"
    assert missed.reason.needed and missed.reason.status is ReasonStatus.OUTSTANDING
    assert council_note("missed", None, "pending") == ""


def test_a_time_critical_visit_45_minutes_late_is_late_and_fails_kpi_3() -> None:
    carers = [CarerTimes(_at(45), _at(75), open=False, care_worker_id=1)]
    verdict = judge_visit(_facts(carers=carers, time_critical=True), _at(120), SETTINGS)
    assert verdict.outcome.outcome is Outcome.COMPLETED and verdict.outcome.minutes_late == 45
    assert (verdict.council.timeliness, verdict.council.kpi3_met) == ("late", False)
    assert not verdict.reason.needed


def test_a_visit_begun_after_the_next_one_started_is_missed_for_the_council() -> None:
    carers = [CarerTimes(_at(100), _at(130), open=False, care_worker_id=1)]
    verdict = judge_visit(_facts(carers=carers, next_start=_at(90)), _at(200), SETTINGS)
    assert verdict.outcome.outcome is Outcome.COMPLETED
    assert verdict.council.timeliness == "missed"
    assert verdict.reason.needed  # the council counts it missed: it needs a reason
    assert council_note("completed", 100, "missed") == "KPI: missed"


def test_a_merged_visit_is_missed_for_the_council_once_its_window_closes() -> None:
    late = datetime(2026, 1, 13, 23, 30, tzinfo=UTC)
    verdict = judge_visit(_facts(merged="EMP-2"), late, SETTINGS)
    assert verdict.council.timeliness == "missed"
    assert "merged" in verdict.council.because


def test_a_cancelled_visit_needs_its_reason_and_the_rotas_counts() -> None:
    given = RecordedReason("client_in_hospital", _at(-60), from_rota=True)
    verdict = judge_visit(_facts(cancelled=True, reason=given), _at(60), SETTINGS)
    assert verdict.outcome.outcome is Outcome.CANCELLED
    assert verdict.reason.status is ReasonStatus.ON_TIME
    assert judge_visit(_facts(cancelled=True), _at(60), SETTINGS).reason.status \
        is ReasonStatus.OUTSTANDING


def test_the_notes_show_the_councils_word_only_where_it_differs() -> None:
    assert council_note("completed", None, "on_time") == ""
    assert council_note("completed", 40, "late") == ""
    assert council_note("late_start", 40, "late") == ""
    assert council_note("missed", None, "missed") == ""
    assert council_note("late_start", 40, "missed") == "KPI: missed"
    assert council_note("missed", 150, "late") == "KPI: late"
    assert council_note("completed", 20, "on_time") == "KPI: on time"  # red client, 20 min
    assert council_note("short_of_carer", None, "short_of_carer") == ""
