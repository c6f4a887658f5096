"""A whole day of escalations in fake time, on the clock-change nights: each deadline raised once,
at the right instant, by the right channel for the local wall clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.escalation.models import AlertKind
from ivr_gateway.escalation_policy import EscalationPolicy, OfficeHours
from tests.escalation.conftest import Escalation, make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Office open every day, so the clock change moves the opening in UTC."""
    return settings.with_overrides(escalation=EscalationPolicy(
        office_hours=OfficeHours.parse("08:00-18:00 Mon-Sun")))


@pytest.mark.parametrize("day", [date(2026, 3, 29), date(2026, 10, 25)],
                         ids=["clocks-go-forward", "clocks-go-back"])
def test_a_day_of_missed_visits_across_the_clock_change(
        day: date, session: Session, escalation: Escalation) -> None:
    start = datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=LONDON).astimezone(UTC)
    escalation.clock.set(start)
    make_ladder(session, start, on_call_hours=30)
    adult = make_adult(session)
    carer = make_care_worker(session)
    # A visit every 90 minutes of real time through the local day, none of them attended.
    starts = []
    at = start + timedelta(minutes=16)
    while at < end:
        make_planned_visit(session, adult, [carer], start=at, minutes=20)
        starts.append(at)
        at += timedelta(minutes=90)
    session.commit()
    escalation.tick()
    # A tick every five minutes of fake time (the real interval is 30 s; five keeps it quick).
    escalation.run_until(end + timedelta(hours=2, minutes=5), step=timedelta(minutes=5))

    alerts = escalation.alerts()
    late = {a.planned_visit_id: a for a in alerts if a.kind is AlertKind.LATE_START}
    missed = {a.planned_visit_id: a for a in alerts if a.kind is AlertKind.MISSED_VISIT}
    assert len(late) == len(missed) == len(starts)
    assert Counter((a.kind, a.subject_key) for a in alerts).most_common(1)[0][1] == 1
    for alert in late.values():
        assert alert.raised_at == alert.deadline_at + timedelta(minutes=4)  # the next tick
    assert sorted(a.deadline_at for a in late.values()) == [
        s + timedelta(minutes=30) for s in starts]
    assert sorted(a.deadline_at for a in missed.values()) == [
        s + timedelta(minutes=120) for s in starts]

    # Each message left exactly once, and matches a notification.
    keys = [s.key for s in escalation.sender.sent]
    assert len(keys) == len(set(keys)) == len(escalation.notifications())

    # The first rung rung by voice exactly when the local wall clock was out of office hours.
    for alert in late.values():
        told = [n for n in escalation.notifications()
                if n.alert_id == alert.id and n.purpose.value == "alert"]
        first = [n for n in told if n.level == min(m.level for m in told)]
        local = alert.raised_at.astimezone(LONDON).time()
        in_hours = time(8) <= local < time(18)
        assert {n.channel.value for n in first} == ({"sms"} if in_hours else {"sms", "voice"}), (
            alert.raised_at, local)
        assert {n.step for n in first} == ({"coordinator"} if in_hours else {"on_call"})
