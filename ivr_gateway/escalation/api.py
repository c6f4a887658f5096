"""/api/v1 endpoints of the escalation: read and acknowledge alerts, contacts, on-call periods.

A blueprint nested in the API's, so it shares the bearer-token check and the error shape.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

from flask import Blueprint, Response, g, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway import extensions
from ivr_gateway.api.views import ApiError, error_response
from ivr_gateway.escalation import contacts as contact_service
from ivr_gateway.escalation.acknowledgement import acknowledge
from ivr_gateway.escalation.contacts import ContactError
from ivr_gateway.escalation.models import Alert, AlertState, OfficeContact, OnCallPeriod
from ivr_gateway.escalation.schemas import (
    AcknowledgeIn,
    AcknowledgeResponse,
    AlertOut,
    AlertsResponse,
    ContactIn,
    ContactOut,
    ContactResponse,
    ContactsResponse,
    NotificationOut,
    OnCallIn,
    OnCallListResponse,
    OnCallOut,
    OnCallResponse,
)
from ivr_gateway.models import PlannedVisit
from ivr_gateway.rota.service import FieldProblem

blueprint = Blueprint("escalation_api", __name__)

M = TypeVar("M", bound=BaseModel)
ALERT_LIST_LIMIT = 500


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status=status, mimetype="application/json")


@blueprint.errorhandler(ContactError)
def _contact_error(error: ContactError) -> Response:
    return error_response(error.status, error.code, error.message)


def _body(model: type[M], optional: bool = False) -> M:
    if optional and not request.get_data():
        return model()
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "Send a JSON object with the header "
                       "'Content-Type: application/json'.")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = [FieldProblem(".".join(str(p) for p in e["loc"]) or "body", e["msg"])
                  for e in error.errors()]
        raise _Invalid(fields) from None


class _Invalid(Exception):
    def __init__(self, fields: list[FieldProblem]) -> None:
        super().__init__("invalid")
        self.fields = fields


@blueprint.errorhandler(_Invalid)
def _invalid(error: _Invalid) -> Response:
    return error_response(422, "validation_error", "The request has fields that are not valid; "
                          "see fields.", error.fields)


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
    state = request.args.get("state", "")
    query = select(Alert).order_by(Alert.id.desc()).limit(ALERT_LIST_LIMIT)
    if state == "unresolved":
        query = query.where(Alert.state != AlertState.RESOLVED)
    elif state:
        try:
            query = query.where(Alert.state == AlertState(state))
        except ValueError:
            return error_response(422, "validation_error", f"state {state!r} is not one of "
                                  "open, acknowledged, resolved, unresolved.")
    with extensions.database().unit_of_work() as session:
        return _json(AlertsResponse(alerts=[alert_out(session, a) for a in session.scalars(query)]))


def _alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise ApiError(404, "not_found", f"No alert with id {alert_id}; list them at /alerts.")
    return alert


@blueprint.get("/alerts/<int:id>")
def get_alert(id: int) -> Response:
    """One alert."""
    with extensions.database().unit_of_work() as session:
        return _json(alert_out(session, _alert(session, id)))


@blueprint.post("/alerts/<int:id>/acknowledge")
def acknowledge_alert(id: int) -> Response:
    """Acknowledge an alert through the API (a carer's concern is resolved by it)."""
    data = _body(AcknowledgeIn, optional=True)
    by = f"{data.by} ({g.api_actor})" if data.by else g.api_actor
    with extensions.database().unit_of_work() as session:
        alert = _alert(session, id)
        result = acknowledge(session, alert, by=by, via="api", now=extensions.clock().now(),
                             settings=extensions.settings(), note=data.note)
        session.flush()
        return _json(AcknowledgeResponse(acknowledged=result.acknowledged,
                                         message=result.message, alert=alert_out(session, alert)))


def _contact_out(contact: OfficeContact) -> ContactOut:
    view = contact_service.view_contact(contact)
    return ContactOut(id=view.id, name=view.name, role=view.role, mobile=view.mobile,
                      active=view.active)


@blueprint.get("/office-contacts")
def list_office_contacts() -> Response:
    """Every office contact."""
    with extensions.database().unit_of_work() as session:
        return _json(ContactsResponse(contacts=[
            _contact_out(c) for c in contact_service.list_contacts(session)]))


@blueprint.post("/office-contacts")
def create_office_contact() -> Response:
    """Add an office contact."""
    data = _body(ContactIn)
    with extensions.database().unit_of_work() as session:
        contact = contact_service.add_contact(session, name=data.name, role=data.role,
                                              mobile=data.mobile, now=extensions.clock().now(),
                                              actor=g.api_actor)
        return _json(ContactResponse(contact=_contact_out(contact)), 201)


def _period_out(period: OnCallPeriod) -> OnCallOut:
    return OnCallOut(id=period.id, contact_id=period.contact_id,
                     contact_name=period.contact.name, starts_at=period.starts_at,
                     ends_at=period.ends_at)


def _time_arg(name: str, default: datetime) -> datetime:
    raw = request.args.get(name)
    if not raw:
        return default
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise _Invalid([FieldProblem(name, "give an ISO 8601 time with a zone, e.g. "
                                     "2026-01-13T18:00:00Z")])
    return value


@blueprint.get("/on-call-periods")
def list_on_call_periods() -> Response:
    """On-call periods overlapping ?from= and ?to= (default: the next 7 days)."""
    start = _time_arg("from", extensions.clock().now())
    end = _time_arg("to", start + timedelta(days=7))
    with extensions.database().unit_of_work() as session:
        periods = contact_service.on_call_periods(session, start, end)
        return _json(OnCallListResponse(on_call_periods=[_period_out(p) for p in periods]))


@blueprint.post("/on-call-periods")
def create_on_call_period() -> Response:
    """Put a contact on call."""
    data = _body(OnCallIn)
    with extensions.database().unit_of_work() as session:
        period = contact_service.add_on_call(
            session, contact_id=data.contact_id, starts_at=data.starts_at, ends_at=data.ends_at,
            now=extensions.clock().now(), actor=g.api_actor)
        return _json(OnCallResponse(on_call_period=_period_out(period)), 201)


@blueprint.delete("/on-call-periods/<int:id>")
def delete_on_call_period(id: int) -> Response:
    """Remove an on-call period."""
    with extensions.database().unit_of_work() as session:
        period = session.get(OnCallPeriod, id)
        if period is None:
            raise ApiError(404, "not_found", f"No on-call period with id {id}.")
        out = _period_out(period)
        contact_service.remove_on_call(session, id, extensions.clock().now(), g.api_actor)
    return _json(OnCallResponse(on_call_period=out))


