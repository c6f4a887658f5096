"""/api/v1/webhooks/subscriptions: who is sent the change feed as signed webhooks."""

from __future__ import annotations

from datetime import datetime

from flask import Response, g
from pydantic import BaseModel, Field

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.errors import ApiError
from ivr_gateway.api.paging import page_request, paged
from ivr_gateway.api.payload import json_body, json_response
from ivr_gateway.rota.service import InvalidRota
from ivr_gateway.webhooks import subscriptions as service

_TYPES = ("'*' (every type) or any of log_event.recorded, actual_visit.changed, "
          "visit.corrected, reason_code.recorded, planned_visit.changed, planned_visit.cancelled")


class SubscriptionIn(BaseModel):
    """A new subscription."""

    url: str = Field(max_length=2000, description="Where deliveries are POSTed (http or https).",
                     examples=["https://rostering.example/hooks/ivr-gateway"])
    event_types: list[str] = Field(default_factory=lambda: ["*"], description=_TYPES)
    description: str = Field(default="", max_length=200)
    from_start: bool = Field(default=False, description="true: send the whole feed from its "
                             "beginning; false: what changes from now on.")


class SubscriptionPatch(BaseModel):
    """The fields to change; active false pauses it (it keeps its place in the feed)."""

    url: str | None = Field(default=None, max_length=2000)
    event_types: list[str] | None = None
    description: str | None = Field(default=None, max_length=200)
    active: bool | None = None


class SubscriptionOut(BaseModel):
    """A subscription; the secret only in the answer that created it."""

    id: int
    url: str
    event_types: list[str]
    description: str
    active: bool
    created_at: datetime
    secret: str | None = Field(default=None, description="whsec_...: verify each delivery's "
                               "webhook-signature with it (Standard Webhooks). Shown once.")


class SubscriptionResponse(BaseModel):
    """One subscription."""

    subscription: SubscriptionOut


class SubscriptionsResponse(BaseModel):
    """The subscriptions, oldest first, a page at a time."""

    subscriptions: list[SubscriptionOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last page.")


def _out(view: service.SubscriptionView) -> SubscriptionOut:
    return SubscriptionOut(id=view.id, url=view.url, event_types=view.event_types,
                           description=view.description, active=view.active,
                           created_at=view.created_at, secret=view.secret)


def _refusal(error: Exception) -> Exception:
    if isinstance(error, service.SubscriptionInvalid):
        return InvalidRota.of(error.field, str(error))
    return ApiError(404, "not_found", str(error))


@blueprint.get("/webhooks/subscriptions")
def list_webhook_subscriptions() -> Response:
    """The subscriptions (without secrets), oldest first, paged like every list."""
    page = page_request()
    with extensions.database().unit_of_work() as session:
        chosen, next_cursor = paged(service.list_subscriptions(session), lambda v: (v.id,),
                                    page)
        return json_response(SubscriptionsResponse(subscriptions=[_out(v) for v in chosen],
                                                   next_cursor=next_cursor))


@blueprint.post("/webhooks/subscriptions")
def create_webhook_subscription() -> Response:
    """Subscribe a URL; the answer carries the secret, once."""
    data = json_body(SubscriptionIn)
    try:
        with extensions.database().unit_of_work() as session:
            view = service.create_subscription(
                session, url=data.url, event_types=data.event_types,
                description=data.description, actor=g.api_actor, now=extensions.clock().now(),
                key_setting=extensions.settings().token_secret_key, from_start=data.from_start)
    except service.SubscriptionInvalid as error:
        raise _refusal(error) from None
    return json_response(SubscriptionResponse(subscription=_out(view)), 201)


@blueprint.get("/webhooks/subscriptions/<int:id>")
def get_webhook_subscription(id: int) -> Response:
    """One subscription."""
    try:
        with extensions.database().unit_of_work() as session:
            view = service.get_subscription(session, id)
    except service.SubscriptionNotFound as error:
        raise _refusal(error) from None
    return json_response(SubscriptionResponse(subscription=_out(view)))


@blueprint.patch("/webhooks/subscriptions/<int:id>")
def update_webhook_subscription(id: int) -> Response:
    """Change a subscription's URL, event types, description, or pause it."""
    data = json_body(SubscriptionPatch)
    try:
        with extensions.database().unit_of_work() as session:
            view = service.update_subscription(
                session, id, url=data.url, event_types=data.event_types,
                description=data.description, active=data.active)
    except (service.SubscriptionInvalid, service.SubscriptionNotFound) as error:
        raise _refusal(error) from None
    return json_response(SubscriptionResponse(subscription=_out(view)))


@blueprint.delete("/webhooks/subscriptions/<int:id>")
def delete_webhook_subscription(id: int) -> Response:
    """Remove a subscription."""
    try:
        with extensions.database().unit_of_work() as session:
            view = service.remove_subscription(session, id)
    except service.SubscriptionNotFound as error:
        raise _refusal(error) from None
    return json_response(SubscriptionResponse(subscription=_out(view)))
