"""/api/v1/alerts: read alerts with who was told when, and acknowledge one."""

from __future__ import annotations

from flask import Response, g, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.errors import ApiError
from ivr_gateway.api.paging import cursor_after, page_request
from ivr_gateway.api.payload import json_body, json_response
from ivr_gateway.api.schemas import (
    AcknowledgeIn,
    AcknowledgeResponse,
    AlertOut,
    AlertsResponse,
    NotificationOut,
)
from ivr_gateway.escalation.acknowledgement import acknowledge
from ivr_gateway.escalation.models import Alert, AlertState
from ivr_gateway.models import PlannedVisit
from ivr_gateway.rota.service import InvalidRota


def alert_out(session: Session, alert: Alert) -> AlertOut:
    """An alert as the API shows it."""
    ref = (session.scalar(select(PlannedVisit.ref).where(PlannedVisit.id
                                                         == alert.planned_visit_id))
           if alert.planned_visit_id else None)
    return AlertOut(
        id=alert.id, number=alert.number, kind=alert.kind.value, state=alert.state.value,
        level=alert.level, summary=alert.summary, planned_visit_ref=ref,
        raised_at=alert.raised_at, deadline_at=alert.deadline_at,
        acknowledged_at=alert.acknowledged_at, acknowledged_by=alert.acknowledged_by,
        acknowledged_via=alert.acknowledged_via, acknowledged_note=alert.acknowledged_note,
        resolved_at=alert.resolved_at,
        resolved_reason=alert.resolved_reason,
        notifications=[NotificationOut(recipient=n.recipient, step=n.step,
                                       purpose=n.purpose.value, channel=n.channel.value,
                                       status=n.status, created_at=n.created_at,
                                       status_at=n.status_at) for n in alert.notifications])


@blueprint.get("/alerts")
def list_alerts() -> Response:
    """Alerts, newest first (?state=open|acknowledged|resolved|unresolved)."""
    state = request.args.get("state")
    page = page_request()
    # Newest first by id: keyset paging in SQL (the key is the id, negated to sort ascending).
    query = select(Alert).order_by(Alert.id.desc()).limit(page.limit + 1)
    if page.after is not None:
        if not isinstance(page.after[0], int):
            raise InvalidRota.of("cursor", "this is not a cursor of /alerts; start again "
                                 "without it")
        query = query.where(Alert.id < -page.after[0])
    if state == "unresolved":
        query = query.where(Alert.state != AlertState.RESOLVED)
    elif state is not None:  # given, even empty: one of the documented states
        try:
            query = query.where(Alert.state == AlertState(state))
        except ValueError:
            raise InvalidRota.of("state", f"{state!r} is not one of open, acknowledged, "
                                 "resolved, unresolved") from None
    with extensions.database().unit_of_work() as session:
        alerts = list(session.scalars(query))
        chosen = alerts[:page.limit]
        next_cursor = (cursor_after((-chosen[-1].id,), page.scope)
                       if len(alerts) > page.limit else None)
        return json_response(AlertsResponse(alerts=[alert_out(session, a) for a in chosen],
                                            next_cursor=next_cursor))


def _alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise ApiError(404, "not_found", f"No alert with id {alert_id}; list them at /alerts.")
    return alert


@blueprint.get("/alerts/<int:id>")
def get_alert(id: int) -> Response:
    """One alert."""
    with extensions.database().unit_of_work() as session:
        return json_response(alert_out(session, _alert(session, id)))


@blueprint.post("/alerts/<int:id>/acknowledge")
def acknowledge_alert(id: int) -> Response:
    """Acknowledge an alert through the API (a carer's concern is resolved by it)."""
    data = json_body(AcknowledgeIn, optional=True)
    by = f"{data.by} ({g.api_actor})" if data.by else g.api_actor
    with extensions.database().unit_of_work() as session:
        alert = _alert(session, id)
        result = acknowledge(session, alert, by=by, via="api", now=extensions.clock().now(),
                             settings=extensions.settings(), note=data.note, actor=g.api_actor)
        session.flush()
        return json_response(AcknowledgeResponse(acknowledged=result.acknowledged,
                                                 message=result.message,
                                                 alert=alert_out(session, alert)))
