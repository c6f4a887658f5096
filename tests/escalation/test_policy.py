"""Escalation settings: office hours on the local wall clock (clock changes), env parsing."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from ivr_gateway.config import ConfigurationError, load_settings
from ivr_gateway.escalation_policy import OfficeHours

LONDON = ZoneInfo("Europe/London")


def test_office_hours_follow_the_local_clock_across_the_spring_change() -> None:
    hours = OfficeHours.parse("08:00-18:00 Mon-Fri")
    # Friday 27 March 2026 07:30 UTC is 07:30 GMT: closed. Monday 30 March 07:30 UTC is 08:30
    # BST: open.
    assert not hours.is_open(datetime(2026, 3, 27, 7, 30, tzinfo=UTC), LONDON)
    assert hours.is_open(datetime(2026, 3, 30, 7, 30, tzinfo=UTC), LONDON)
    assert not hours.is_open(datetime(2026, 3, 30, 17, 0, tzinfo=UTC), LONDON)  # 18:00 BST


def test_next_opening_skips_the_weekend_and_lands_on_local_eight() -> None:
    hours = OfficeHours.parse("08:00-18:00 Mon-Fri")
    saturday = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)  # clocks go back that night
    assert hours.next_opening(saturday, LONDON) == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
    friday_evening = datetime(2026, 3, 27, 19, 0, tzinfo=UTC)
    assert hours.next_opening(friday_evening, LONDON) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "opens", "days"), [
    ("08:00-18:00 Mon-Fri", time(8), {0, 1, 2, 3, 4}),
    ("07:30-20:00 mon-sat", time(7, 30), {0, 1, 2, 3, 4, 5}),
    ("9:00-17:00 Mon,Wed,Fri", time(9), {0, 2, 4}),
    ("22:00-23:00 Sat-Mon", time(22), {5, 6, 0}),
])
def test_office_hours_are_read_from_the_setting(text: str, opens: time, days: set[int]) -> None:
    hours = OfficeHours.parse(text)
    assert hours.opens == opens and hours.weekdays == days


@pytest.mark.parametrize(("env", "named"), [
    ({"OFFICE_HOURS": "8-6"}, "OFFICE_HOURS"),
    ({"OFFICE_HOURS": "18:00-08:00 Mon-Fri"}, "close after it opens"),
    ({"OFFICE_HOURS": "08:00-18:00 Mon-Fryday"}, "Fryday"),
    ({"ESCALATION_LEVEL_MINUTES": "0"}, "ESCALATION_LEVEL_MINUTES"),
    ({"ALERT_SENDER": "pigeon"}, "ALERT_SENDER"),
    # Past the 12-hour stale-open rule the next call from that home is a new log-in anyway.
    ({"ESCALATION_UNPLANNED_VISIT_MINUTES": "721"}, "at most 720"),
    ({"ESCALATION_UNPLANNED_VISIT_MINUTES": "0"}, "ESCALATION_UNPLANNED_VISIT_MINUTES"),
    ({"ALERT_STORM_UPDATE_MINUTES": "0"}, "ALERT_STORM_UPDATE_MINUTES"),
])
def test_a_wrong_escalation_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        load_settings(env)


def test_settings_carry_the_policy() -> None:
    settings = load_settings({"ESCALATION_LEVEL_MINUTES": "10", "ESCALATION_TICK_SECONDS": "20"})
    assert settings.escalation.level_minutes == 10 and settings.escalation.tick_seconds == 20
    assert settings.escalation.sender == "recording"
    assert settings.escalation.unplanned_visit_minutes == 480  # DESIGN.md: shifts up to 8 hours
    shorter = load_settings({"ESCALATION_UNPLANNED_VISIT_MINUTES": "90"})
    assert shorter.escalation.unplanned_visit_minutes == 90
    assert settings.escalation.storm_update_minutes == 30
    assert load_settings({"ALERT_STORM_UPDATE_MINUTES": "20"}).escalation.storm_update_minutes == 20


def test_the_office_is_shut_on_england_s_bank_holidays_and_opens_after_them() -> None:
    hours = load_settings({}).escalation.office_hours  # BANK_HOLIDAYS defaults to england
    # Christmas 2026 falls on a Friday: Boxing Day (Saturday) is observed on Monday 28 December.
    boxing_day_observed = datetime(2026, 12, 28, 10, 0, tzinfo=UTC)
    assert not hours.is_open(boxing_day_observed, LONDON)
    assert hours.is_open(datetime(2026, 12, 29, 10, 0, tzinfo=UTC), LONDON)
    christmas_eve_evening = datetime(2026, 12, 24, 19, 0, tzinfo=UTC)
    assert hours.next_opening(christmas_eve_evening, LONDON) == datetime(
        2026, 12, 29, 8, 0, tzinfo=UTC)
    # Good Friday and Easter Monday 2026 (3 and 6 April, on summer time).
    assert not hours.is_open(datetime(2026, 4, 3, 9, 0, tzinfo=UTC), LONDON)
    assert hours.next_opening(datetime(2026, 4, 2, 18, 0, tzinfo=UTC), LONDON) == datetime(
        2026, 4, 7, 7, 0, tzinfo=UTC)


def test_each_nation_keeps_its_own_bank_holidays_and_named_days_close_the_office_too() -> None:
    second_of_january = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)  # a Friday; a holiday in Scotland
    assert load_settings({}).escalation.office_hours.is_open(second_of_january, LONDON)
    scotland = load_settings({"BANK_HOLIDAYS": "Scotland"}).escalation.office_hours
    assert not scotland.is_open(second_of_january, LONDON)
    none = load_settings({"BANK_HOLIDAYS": "none"}).escalation.office_hours
    assert none.is_open(datetime(2026, 12, 28, 10, 0, tzinfo=UTC), LONDON)
    closed = load_settings({"OFFICE_CLOSED_DATES": "2026-12-24, 2026-12-31"}
                           ).escalation.office_hours
    assert not closed.is_open(datetime(2026, 12, 24, 10, 0, tzinfo=UTC), LONDON)
    assert closed.is_open(datetime(2026, 12, 23, 10, 0, tzinfo=UTC), LONDON)
    # 24 Dec shut, 25/26 the weekend... here Fri 25 and Mon 28 are bank holidays: Tue 29.
    assert closed.next_opening(datetime(2026, 12, 23, 19, 0, tzinfo=UTC), LONDON) == datetime(
        2026, 12, 29, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("env", "named"), [
    ({"BANK_HOLIDAYS": "wessex"}, "BANK_HOLIDAYS"),
    ({"OFFICE_CLOSED_DATES": "24/12/2026"}, "OFFICE_CLOSED_DATES"),
])
def test_a_wrong_closing_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        load_settings(env)
