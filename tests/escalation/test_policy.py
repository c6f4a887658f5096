"""Escalation settings: office hours on the local wall clock (clock changes), env parsing."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from ivr_gateway.config import ConfigurationError, load_settings
from ivr_gateway.escalation.policy import OfficeHours

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
