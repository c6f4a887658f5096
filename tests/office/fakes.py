"""An in-memory alert source: what the escalation capability will provide, for tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from sqlalchemy.orm import Session

from ivr_gateway.office.providers import AlertView, Notification, OnCallPeriod


class FakeAlerts:
    """Alerts held in a dict; acknowledging one records who and when."""

    def __init__(self, alerts: list[AlertView] | None = None,
                 on_call: list[OnCallPeriod] | None = None) -> None:
        self.alerts = {a.id: a for a in alerts or []}
        self.periods = on_call or []

    def alerts_for_visits(self, session: Session, planned_visit_refs: list[str]
                          ) -> dict[str, list[AlertView]]:
        """Alerts per visit reference."""
        found: dict[str, list[AlertView]] = {}
        for alert in self.alerts.values():
            if alert.planned_visit_ref in planned_visit_refs:
                found.setdefault(alert.planned_visit_ref, []).append(alert)
        return found

    def open_alerts(self, session: Session, day: date) -> list[AlertView]:
        """Alerts still open."""
        return [a for a in self.alerts.values() if a.open]

    def acknowledged_without_visit(self, session: Session, day: date) -> list[AlertView]:
        """Acknowledged alerts with no visit, latest first (every day: the fake keeps no dates)."""
        found = [a for a in self.alerts.values()
                 if a.acknowledged_at is not None and a.planned_visit_ref is None]
        return sorted(found, key=lambda a: a.acknowledged_at or a.raised_at, reverse=True)

    def acknowledge(self, session: Session, alert_id: int, actor: str, now: datetime,
                    note: str | None = None) -> AlertView:
        """Mark acknowledged, with the note."""
        if alert_id not in self.alerts:
            raise LookupError("There is no such alert.")
        self.alerts[alert_id] = replace(self.alerts[alert_id], acknowledged_at=now,
                                        acknowledged_by=actor, acknowledged_note=note)
        return self.alerts[alert_id]

    def on_call(self, session: Session, start: datetime, end: datetime) -> list[OnCallPeriod]:
        """The periods given."""
        return self.periods


def late_alert(ref: str, raised_at: datetime, alert_id: int = 1) -> AlertView:
    """A level-1 late-start alert on a visit, texted to the coordinator."""
    return AlertView(id=alert_id, kind="late_start", planned_visit_ref=ref, raised_at=raised_at,
                     level=1, summary="J.S. not logged in 30 min after planned start",
                     notifications=[Notification(raised_at, "Cora", "sms", "delivered",
                                                 role="coordinator")],
                     number=alert_id, reached="coordinator")
