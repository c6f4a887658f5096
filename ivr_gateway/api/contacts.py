"""/api/v1/office-contacts and /api/v1/on-call-periods: whom the escalation ladder reaches."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, g

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.errors import ApiError
from ivr_gateway.api.paging import page_request, paged
from ivr_gateway.api.payload import json_body, json_response, time_arg
from ivr_gateway.api.schemas import (
    ContactIn,
    ContactOut,
    ContactResponse,
    ContactsResponse,
    OnCallIn,
    OnCallListResponse,
    OnCallOut,
    OnCallResponse,
)
from ivr_gateway.escalation import contacts as contact_service
from ivr_gateway.escalation.models import OfficeContact, OnCallPeriod


def _contact_out(contact: OfficeContact) -> ContactOut:
    view = contact_service.view_contact(contact)
    return ContactOut(id=view.id, name=view.name, role=view.role, mobile=view.mobile,
                      active=view.active)


@blueprint.get("/office-contacts")
def list_office_contacts() -> Response:
    """Every office contact."""
    page = page_request()
    with extensions.database().unit_of_work() as session:
        chosen, next_cursor = paged(contact_service.list_contacts(session),
                                    lambda c: (c.role, c.name, c.id), page)
        return json_response(ContactsResponse(contacts=[_contact_out(c) for c in chosen],
                                              next_cursor=next_cursor))


@blueprint.post("/office-contacts")
def create_office_contact() -> Response:
    """Add an office contact."""
    data = json_body(ContactIn)
    with extensions.database().unit_of_work() as session:
        contact = contact_service.add_contact(session, name=data.name, role=data.role,
                                              mobile=data.mobile, now=extensions.clock().now(),
                                              actor=g.api_actor)
        return json_response(ContactResponse(contact=_contact_out(contact)), 201)


def _period_out(period: OnCallPeriod) -> OnCallOut:
    return OnCallOut(id=period.id, contact_id=period.contact_id,
                     contact_name=period.contact.name, starts_at=period.starts_at,
                     ends_at=period.ends_at)


@blueprint.get("/on-call-periods")
def list_on_call_periods() -> Response:
    """On-call periods overlapping ?from= and ?to= (default: the next 7 days)."""
    start = time_arg("from", extensions.clock().now())
    end = time_arg("to", start + timedelta(days=7))
    page = page_request()
    with extensions.database().unit_of_work() as session:
        periods = contact_service.on_call_periods(session, start, end)
        chosen, next_cursor = paged(periods, lambda p: (p.starts_at.isoformat(), p.id), page)
        return json_response(OnCallListResponse(on_call_periods=[_period_out(p)
                                                                 for p in chosen],
                                                next_cursor=next_cursor))


@blueprint.post("/on-call-periods")
def create_on_call_period() -> Response:
    """Put a contact on call."""
    data = json_body(OnCallIn)
    with extensions.database().unit_of_work() as session:
        period = contact_service.add_on_call(
            session, contact_id=data.contact_id, starts_at=data.starts_at, ends_at=data.ends_at,
            now=extensions.clock().now(), actor=g.api_actor)
        return json_response(OnCallResponse(on_call_period=_period_out(period)), 201)


@blueprint.delete("/on-call-periods/<int:id>")
def delete_on_call_period(id: int) -> Response:
    """Remove an on-call period."""
    with extensions.database().unit_of_work() as session:
        period = session.get(OnCallPeriod, id)
        if period is None:
            raise ApiError(404, "not_found", f"No on-call period with id {id}.")
        out = _period_out(period)
        contact_service.remove_on_call(session, id, extensions.clock().now(), g.api_actor)
    return json_response(OnCallResponse(on_call_period=out))
