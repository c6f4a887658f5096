"""The escalation package as the office dashboard's alert source (alerts and the on-call rota).

AlertSource is a port the dashboard defines (office/providers.py); this adapter lives with the
dashboard, so the arrow points from the office (an entrypoint) down to escalation (a service),
never back. It was escalation/office_alerts.py, which made escalation import the office.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ivr_gateway.config import Settings
from ivr_gateway.escalation.acknowledgement import acknowledge
from ivr_gateway.escalation.models import Alert, AlertState, NotificationPurpose, OnCallPeriod
from ivr_gateway.models import PlannedVisit
from ivr_gateway.office.board import person_with_door
from ivr_gateway.office.providers import AlertView, Notification
from ivr_gateway.office.providers import OnCallPeriod as OnCallView
from ivr_gateway.office.wording import office_names
from ivr_gateway.visits.errors import ActionRefused
from ivr_gateway.visits.queries import local_day_bounds


def _view(alert: Alert, refs: dict[int, str]) -> AlertView:
    told = [n for n in alert.notifications if n.purpose is NotificationPurpose.ALERT]
    return AlertView(
        id=alert.id, kind=alert.kind.value,
        planned_visit_ref=refs.get(alert.planned_visit_id) if alert.planned_visit_id else None,
        raised_at=alert.raised_at, level=alert.level, summary=alert.summary,
        acknowledged_at=alert.acknowledged_at, acknowledged_by=alert.acknowledged_by,
        acknowledged_note=alert.acknowledged_note, resolved_at=alert.resolved_at,
        notifications=[Notification(at=n.created_at, to=n.recipient, channel=n.channel.value,
                                    status=n.status, role=n.step)
                       for n in alert.notifications],
        number=alert.number,
        reached=max(told, key=lambda n: (n.level, n.id)).step if told else "")


def _refs(session: Session, alerts: list[Alert]) -> dict[int, str]:
    ids = {a.planned_visit_id for a in alerts if a.planned_visit_id}
    if not ids:
        return {}
    return {i: r for i, r in session.execute(
        select(PlannedVisit.id, PlannedVisit.ref).where(PlannedVisit.id.in_(ids)))}


class EscalationAlertSource:
    """Reads alerts and on-call periods; acknowledges as the office user."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def alerts_for_visits(self, session: Session, planned_visit_refs: list[str]
                          ) -> dict[str, list[AlertView]]:
        """Every alert of these planned visits, oldest first."""
        if not planned_visit_refs:
            return {}
        alerts = list(session.scalars(
            select(Alert).join(PlannedVisit, PlannedVisit.id == Alert.planned_visit_id)
            .where(PlannedVisit.ref.in_(planned_visit_refs))
            .options(selectinload(Alert.notifications)).order_by(Alert.raised_at, Alert.id)))
        refs = _refs(session, alerts)
        grouped: dict[str, list[AlertView]] = {}
        for alert in alerts:
            view = _view(alert, refs)
            grouped.setdefault(view.planned_visit_ref or "", []).append(view)
        return grouped

    def open_alerts(self, session: Session, day: date) -> list[AlertView]:
        """Open alerts raised on the local day, or still open from before it."""
        _, end = local_day_bounds(day, self.settings)
        alerts = list(session.scalars(
            select(Alert).where(Alert.state == AlertState.OPEN, Alert.raised_at < end)
            .options(selectinload(Alert.notifications)).order_by(Alert.raised_at, Alert.id)))
        refs = _refs(session, alerts)
        return [_view(a, refs) for a in alerts]

    def acknowledged_without_visit(self, session: Session, day: date) -> list[AlertView]:
        """Alerts with no planned visit (forwarding failures, unplanned visits) acknowledged on
        the local day, latest first: the visit page shows the others' acknowledgements."""
        start, end = local_day_bounds(day, self.settings)
        alerts = list(session.scalars(
            select(Alert).where(Alert.planned_visit_id.is_(None),
                                Alert.acknowledged_at >= start, Alert.acknowledged_at < end)
            .options(selectinload(Alert.notifications))
            .order_by(Alert.acknowledged_at.desc(), Alert.id.desc())))
        return [_view(a, {}) for a in alerts]

    def acknowledge(self, session: Session, alert_id: int, actor: str, now: datetime,
                    note: str | None = None) -> AlertView:
        """Acknowledge on the dashboard: it stops climbing and those told hear who took it.

        The note is kept on the alert as the API's and the CLI's are (acknowledgement.py).
        """
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise LookupError(f"There is no alert {alert_id}.")
        result = acknowledge(session, alert, by=actor, via="dashboard", now=now,
                             settings=self.settings, note=note, actor=actor)
        if not result.acknowledged:
            # Already taken, or settled meanwhile (two coordinators, or a page left open): say
            # so, rather than "acknowledged" over someone else's acknowledgement; the person
            # by name ("Cora (office)"), not by the code the alert keeps ("office:cora").
            if alert.state is AlertState.ACKNOWLEDGED and alert.acknowledged_at is not None:
                by = person_with_door(alert.acknowledged_by,
                                      office_names(session, [alert.acknowledged_by]))
                at = alert.acknowledged_at.astimezone(self.settings.tz).strftime("%H:%M")
                raise ActionRefused(f"Alert {alert.number} was already acknowledged by {by} "
                                    f"at {at}.")
            raise ActionRefused(result.message)
        session.flush()
        return _view(alert, _refs(session, [alert]))

    def on_call(self, session: Session, start: datetime, end: datetime) -> list[OnCallView]:
        """On-call periods overlapping [start, end)."""
        periods = session.scalars(
            select(OnCallPeriod).where(OnCallPeriod.starts_at < end, OnCallPeriod.ends_at > start)
            .options(selectinload(OnCallPeriod.contact)).order_by(OnCallPeriod.starts_at))
        return [OnCallView(person=p.contact.name, phone=p.contact.mobile, starts_at=p.starts_at,
                           ends_at=p.ends_at) for p in periods]
