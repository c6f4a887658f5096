"""The OpenAPI 3.1 document of /api/v1, generated from the models the API validates with, and
GET /api/v1/openapi.json that serves it (no token needed)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.paging import MAX_PAGE_SIZE
from ivr_gateway.api.schemas import (
    AcknowledgeIn,
    AcknowledgeResponse,
    AdultResponse,
    AlertOut,
    AlertsResponse,
    CareWorkerResponse,
    ContactIn,
    ContactResponse,
    ContactsResponse,
    ErrorResponse,
    LockoutsResponse,
    OnCallIn,
    OnCallListResponse,
    OnCallResponse,
    OptOutsResponse,
    OutboxFiguresResponse,
    PlannedVisitResponse,
    RotaBatchIn,
    RotaBatchResponse,
    TextsResponse,
    TokenResponse,
    VisitsResponse,
)
from ivr_gateway.api.webhooks import (
    SubscriptionIn,
    SubscriptionPatch,
    SubscriptionResponse,
    SubscriptionsResponse,
)
from ivr_gateway.rota.schemas import (
    AdultIn,
    AdultPatch,
    AdultView,
    CareWorkerIn,
    CareWorkerPatch,
    CareWorkerView,
    PlannedVisitIn,
    PlannedVisitPatch,
    PlannedVisitView,
)
from ivr_gateway.sms.devices import TokenIn, TokenView
from ivr_gateway.visits.feed import MAX_LIMIT
from ivr_gateway.webhooks.payloads import ChangesResponse, WebhookDelivery

REF_TEMPLATE = "#/components/schemas/{model}"

_ERRORS = {
    400: ("The request cannot be read: the body is not a JSON object sent as "
          "application/json, or is nested too deeply, or the request holds a NUL character."),
    401: "No bearer token, or one that is unknown or revoked.",
    404: "No record with that reference.",
    409: "A concurrent request changed the same record (send it again), or the change is no "
         "longer allowed (error.message says why).",
    413: "The body is larger than the gateway accepts (16 MB), or a batch has too many items.",
    422: "The input is not valid; error.fields names each field that is wrong.",
}


@dataclass(frozen=True)
class Operation:
    """One path and method of the API, with its request and response models."""

    path: str  # OpenAPI form: /adults/{ref}
    method: str
    operation_id: str
    summary: str
    tag: str
    ok: dict[int, type[BaseModel] | None]
    request: type[BaseModel] | None = None
    errors: tuple[int, ...] = (401,)
    query: list[dict[str, Any]] = field(default_factory=list)
    authenticated: bool = True
    # An error status answered with its own model rather than ErrorResponse.
    error_models: dict[int, type[BaseModel]] = field(default_factory=dict)
    example: dict[str, Any] | None = None  # of the first success answer


_PUT_ERRORS = (400, 401, 409, 422)
_PATCH_ERRORS = (400, 401, 404, 409, 422)
_DATE = {"name": "date", "in": "query", "required": True,
         "description": "The local day (TIMEZONE, default Europe/London).",
         "schema": {"type": "string", "format": "date"}}
_NEEDS_OFFICE = {"name": "needs_office", "in": "query", "required": False,
                 "description": "true: only the texts the office should look at (unregistered "
                                "mobiles, codes of another client, lockouts, STOP ...).",
                 "schema": {"type": "boolean"}}
_PAGE = [
    {"name": "limit", "in": "query", "required": False,
     "description": f"Items a page, 1 to {MAX_PAGE_SIZE} (the default and the maximum).",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}},
    {"name": "cursor", "in": "query", "required": False,
     "description": "The next_cursor of the page before, as given (opaque); keep the other "
                    "query values the same.", "schema": {"type": "string"}},
]
_ID = {"name": "id", "in": "path", "required": True, "description": "The record's id.",
       "schema": {"type": "integer"}}
_TIME = {"type": "string", "format": "date-time"}

OPERATIONS: list[Operation] = [
    Operation("/adults/{ref}", "put", "putAdult",
              "Create or update a client (adult) by your reference", "adults",
              {200: AdultResponse, 201: AdultResponse}, AdultIn, _PUT_ERRORS),
    Operation("/adults/{ref}", "patch", "patchAdult",
              "Change only the fields given of a client (JSON merge patch)", "adults",
              {200: AdultResponse}, AdultPatch, _PATCH_ERRORS),
    Operation("/adults/{ref}", "get", "getAdult", "Read a client by your reference", "adults",
              {200: AdultView}, errors=(401, 404)),
    Operation("/care-workers/{ref}", "put", "putCareWorker",
              "Create or update a care worker; a pin given is set, never returned",
              "care-workers", {200: CareWorkerResponse, 201: CareWorkerResponse}, CareWorkerIn,
              _PUT_ERRORS),
    Operation("/care-workers/{ref}", "patch", "patchCareWorker",
              "Change only the fields given of a care worker: a pin alone resets the PIN; "
              "active false marks a leaver (no more log-ins, evidence kept)", "care-workers",
              {200: CareWorkerResponse}, CareWorkerPatch, _PATCH_ERRORS),
    Operation("/care-workers/{ref}", "get", "getCareWorker",
              "Read a care worker with any PIN lockout", "care-workers", {200: CareWorkerView},
              errors=(401, 404)),
    Operation("/care-workers/{ref}/unlock", "post", "unlockCareWorker",
              "Lift a care worker's PIN lockout", "care-workers", {200: CareWorkerResponse},
              errors=(401, 404)),
    Operation("/lockouts", "get", "listLockouts",
              "Care workers locked out now after too many wrong PINs", "care-workers",
              {200: LockoutsResponse}, errors=(401, 422), query=_PAGE),
    Operation("/planned-visits/{ref}", "put", "putPlannedVisit",
              "Create or replace a planned visit by your reference", "planned-visits",
              {200: PlannedVisitResponse, 201: PlannedVisitResponse}, PlannedVisitIn,
              _PUT_ERRORS),
    Operation("/planned-visits/{ref}", "patch", "patchPlannedVisit",
              "Change only the fields given of a planned visit (JSON merge patch)",
              "planned-visits", {200: PlannedVisitResponse}, PlannedVisitPatch, _PATCH_ERRORS),
    Operation("/planned-visits/{ref}", "delete", "withdrawPlannedVisit",
              "Withdraw a planned visit before it starts: cancelled with the reason given "
              "(WITHDRAWN by default), so no alert fires and the council is told; 409 once a "
              "carer has logged in to it", "planned-visits", {200: PlannedVisitResponse},
              errors=(401, 404, 409, 422),
              query=[{"name": "reason", "in": "query", "required": False,
                      "description": "The cancellation's reason code (default WITHDRAWN).",
                      "schema": {"type": "string", "pattern": "^[A-Za-z0-9_\\-]{1,64}$"}}]),
    Operation("/planned-visits/{ref}", "get", "getPlannedVisit",
              "Read a planned visit by your reference", "planned-visits",
              {200: PlannedVisitView}, errors=(401, 404)),
    Operation("/rota/batch", "post", "loadRotaBatch",
              "Upsert up to 1,000 adults, care workers and planned visits, answered item by "
              "item", "rota", {200: RotaBatchResponse}, RotaBatchIn, (400, 401, 409, 413, 422),
              error_models={422: RotaBatchResponse}),
    Operation("/visits", "get", "listVisits",
              "A local day's visits with actual times, outcomes and exceptions", "visits",
              {200: VisitsResponse}, errors=(401, 422), query=[_DATE, *_PAGE]),
    Operation("/outbox", "get", "getOutboxFigures",
              "Outbox figures for monitoring: backlog, oldest age, dead letters, by kind",
              "operations", {200: OutboxFiguresResponse}),
    Operation("/visit-code-tokens/{ref}", "put", "putVisitCodeToken",
              "Register a visit-code token (by its serial) or give it to a client", "sms",
              {200: TokenResponse, 201: TokenResponse}, TokenIn, _PUT_ERRORS),
    Operation("/visit-code-tokens/{ref}", "get", "getVisitCodeToken",
              "Read a visit-code token by its serial (never its secret)", "sms",
              {200: TokenView}, errors=(401, 404)),
    Operation("/texts", "get", "listTexts",
              "A local day's inbound texts, matched or not, with the replies given", "sms",
              {200: TextsResponse}, errors=(401, 422), query=[_DATE, _NEEDS_OFFICE, *_PAGE]),
    Operation("/sms-opt-outs", "get", "listSmsOptOuts",
              "Numbers that texted STOP and so receive no texts", "sms",
              {200: OptOutsResponse}, errors=(401, 422), query=_PAGE),
    Operation("/alerts", "get", "listAlerts", "Alerts, newest first, with who was told when",
              "alerts", {200: AlertsResponse}, errors=(401, 422),
              query=[{"name": "state", "in": "query", "required": False,
                      "description": "open, acknowledged, resolved, or unresolved (open and "
                                     "acknowledged); all when absent.",
                      "schema": {"type": "string",
                                 "enum": ["open", "acknowledged", "resolved", "unresolved"]}},
                     *_PAGE]),
    Operation("/alerts/{id}", "get", "getAlert", "One alert", "alerts", {200: AlertOut},
              errors=(401, 404), query=[_ID]),
    Operation("/alerts/{id}/acknowledge", "post", "acknowledgeAlert",
              "Acknowledge an alert: it stops climbing and the others told hear who has it "
              "(a carer_concern is resolved by it)",
              "alerts", {200: AcknowledgeResponse}, AcknowledgeIn, errors=(400, 401, 404, 422),
              query=[_ID]),
    Operation("/office-contacts", "get", "listOfficeContacts",
              "Office contacts the ladder can reach", "office-contacts",
              {200: ContactsResponse}, errors=(401, 422), query=_PAGE),
    Operation("/office-contacts", "post", "createOfficeContact",
              "Add an office contact (coordinator, on_call or manager)", "office-contacts",
              {201: ContactResponse}, ContactIn, errors=(400, 401, 409, 422)),
    Operation("/on-call-periods", "get", "listOnCallPeriods",
              "On-call periods overlapping a time range", "on-call",
              {200: OnCallListResponse}, errors=(401, 422),
              query=[{"name": "from", "in": "query", "required": False,
                      "description": "Start (default now).", "schema": _TIME},
                     {"name": "to", "in": "query", "required": False,
                      "description": "End (default 7 days after the start).", "schema": _TIME},
                     *_PAGE]),
    Operation("/on-call-periods", "post", "createOnCallPeriod",
              "Put a contact on call for a period", "on-call", {201: OnCallResponse},
              OnCallIn, errors=(400, 401, 404, 422)),
    Operation("/on-call-periods/{id}", "delete", "deleteOnCallPeriod",
              "Remove an on-call period", "on-call", {200: OnCallResponse},
              errors=(401, 404), query=[_ID]),
    Operation("/openapi.json", "get", "getOpenApi", "This document", "meta", {200: None},
              errors=(), authenticated=False),
]

# The ways out (issue 14): the change feed and the webhook subscriptions.
_CHANGE_EXAMPLE = {
    "changes": [{
        "position": "djEuNzQxLjEy", "type": "log_event.recorded",
        "recorded_at": "2026-01-13T08:02:11Z", "planned_visit_ref": "PV-1001",
        "visit": {"ref": "PV-1001", "adult_ref": "A-17", "adult_initials": "M.B.",
                  "care_worker_refs": ["CW-4"], "planned_start": "2026-01-13T08:00:00Z",
                  "planned_end": "2026-01-13T08:30:00Z", "status": "planned",
                  "cancel_reason": None, "time_critical": False, "outcome": "in_progress",
                  "minutes_late": None, "short": False, "actual_start": "2026-01-13T08:02:00Z",
                  "actual_end": None, "carers_needed": 1, "carers_logged_in": 1,
                  "council_verdict": {"timeliness": "on_time", "kpi3_met": True, "because": "",
                                      "window_closes_at": "2026-01-13T23:00:00Z"},
                  "reason_code": {"needed": False, "status": "not_needed", "due_at": None,
                                  "code": None}},
        "actual_visit": {"id": 88, "care_worker_ref": "CW-4", "planned_visit_ref": "PV-1001",
                         "removed": False, "state": "open",
                         "started_at": "2026-01-13T08:02:00Z", "ended_at": None,
                         "in_verification": "caller_id", "out_verification": None},
        "log_event": {"id": 301, "kind": "in", "channel": "ivr", "care_worker_ref": "CW-4",
                      "event_time": "2026-01-13T08:02:00Z",
                      "received_at": "2026-01-13T08:02:11Z", "verification": "caller_id",
                      "superseded": False},
        "detail": {}}],
    "next_cursor": "djEuNzQxLjEy", "more": False,
}
_SUBSCRIPTION_EXAMPLE = {"subscription": {
    "id": 3, "url": "https://rostering.example/hooks/ivr-gateway", "event_types": ["*"],
    "description": "CarePlanner", "active": True, "created_at": "2026-01-13T09:00:00Z",
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
_SUB_ID = {"name": "id", "in": "path", "required": True, "description": "The subscription's id.",
           "schema": {"type": "integer"}}
OPERATIONS += [
    Operation("/changes", "get", "listChanges",
              "The change feed: every new or changed actual visit, log event, correction, "
              "reason code and cancellation, in a strict order, after a cursor", "changes",
              {200: ChangesResponse}, errors=(401, 422), example=_CHANGE_EXAMPLE,
              query=[{"name": "after", "in": "query", "required": False,
                      "description": "The next_cursor (or an entry's position) you kept; "
                                     "none: from the beginning of the feed.",
                      "schema": {"type": "string"}},
                     {"name": "limit", "in": "query", "required": False,
                      "description": f"Entries per page, 1 to {MAX_LIMIT} (default 100).",
                      "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}}]),
    Operation("/webhooks/subscriptions", "get", "listWebhookSubscriptions",
              "The webhook subscriptions (without secrets), oldest first", "webhooks",
              {200: SubscriptionsResponse}, errors=(401, 422), query=_PAGE),
    Operation("/webhooks/subscriptions", "post", "createWebhookSubscription",
              "Subscribe a URL to the change feed as signed webhooks (Standard Webhooks); "
              "the answer carries its secret, once", "webhooks", {201: SubscriptionResponse},
              SubscriptionIn, errors=(400, 401, 422), example=_SUBSCRIPTION_EXAMPLE),
    Operation("/webhooks/subscriptions/{id}", "get", "getWebhookSubscription",
              "One webhook subscription", "webhooks", {200: SubscriptionResponse},
              errors=(401, 404), query=[_SUB_ID]),
    Operation("/webhooks/subscriptions/{id}", "patch", "updateWebhookSubscription",
              "Change a subscription's URL, event types or description, or pause it",
              "webhooks", {200: SubscriptionResponse}, SubscriptionPatch,
              errors=(400, 401, 404, 422), query=[_SUB_ID]),
    Operation("/webhooks/subscriptions/{id}", "delete", "deleteWebhookSubscription",
              "Remove a webhook subscription", "webhooks", {200: SubscriptionResponse},
              errors=(401, 404), query=[_SUB_ID]),
]

_OK_TEXT = {200: "OK", 201: "Created"}


def _schemas() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    inputs = {op.request for op in OPERATIONS if op.request is not None}
    extra: set[type[BaseModel]] = {ErrorResponse, WebhookDelivery}  # errors; webhook bodies
    outputs = ({m for op in OPERATIONS for m in op.ok.values() if m is not None}
               | {m for op in OPERATIONS for m in op.error_models.values()} | extra)
    keys: list[tuple[type[BaseModel], Any]] = [
        *((m, "validation") for m in sorted(inputs, key=lambda m: m.__name__)),
        *((m, "serialization") for m in sorted(outputs, key=lambda m: m.__name__)),
    ]
    mapping, top = models_json_schema(keys, ref_template=REF_TEMPLATE)
    refs = {model: schema["$ref"] for (model, _mode), schema in mapping.items()}
    return {m.__name__: {"$ref": refs[m]} for m, _ in keys}, top.get("$defs", {})


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


# A real request and answer of every operation, from the demo (scripts/generate-api-examples):
# shown as its examples; tests/api/test_examples.py checks each against its models.
EXAMPLES_FILE = Path(__file__).with_name("examples.json")


def recorded_examples() -> dict[str, dict[str, Any]]:
    """Each operation's recorded example: status, request body (if any) and answer."""
    return dict(json.loads(EXAMPLES_FILE.read_text(encoding="utf-8")))


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once; it depends only on code)."""
    refs, components = _schemas()
    examples = recorded_examples()
    error_ref = refs["ErrorResponse"]
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        responses: dict[str, Any] = {}
        for status, model in op.ok.items():
            schema = refs[model.__name__] if model is not None else {"type": "object"}
            responses[str(status)] = {"description": _OK_TEXT[status],
                                      "content": _content(schema)}
            recorded = examples.get(op.operation_id, {})
            answer = op.example if op.example is not None else (
                recorded.get("response") if recorded.get("status") == status else None)
            if answer is not None:
                responses[str(status)]["content"]["application/json"]["example"] = answer
        # Any request may be refused before its operation reads it (ivr_gateway/request_guards:
        # a NUL character, JSON nested too deep: 400), and a body over the limit is a 413.
        guarded = {400, 413} if op.request is not None else {400}
        for status in sorted({*op.errors, *guarded}):
            # An operation's own error model (a batch's item-by-item 422) or, for a request
            # refused before it is read (a body that is not a batch at all), the common one.
            model = op.error_models.get(status)
            responses[str(status)] = {"description": _ERRORS[status], "content": _content(
                {"anyOf": [refs[model.__name__], error_ref]} if model is not None
                else error_ref)}
        operation: dict[str, Any] = {
            "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
            "responses": responses,
        }
        parameters = list(op.query)
        if "{ref}" in op.path:
            parameters.insert(0, {"name": "ref", "in": "path", "required": True,
                                  "description": "Your own reference for the record.",
                                  "schema": {"type": "string", "maxLength": 64}})
        if parameters:
            operation["parameters"] = parameters
        if op.request is not None:
            operation["requestBody"] = {"required": True,
                                        "content": _content(refs[op.request.__name__])}
            body = examples.get(op.operation_id, {}).get("request")
            if body is not None:
                operation["requestBody"]["content"]["application/json"]["example"] = body
        if not op.authenticated:
            operation["security"] = []
        paths.setdefault(op.path, {})[op.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ivr-gateway rostering API",
            "version": "1.0.0",
            "description": (
                "Upsert adults, care workers and planned visits by your own references, and read "
                "the visits of a day with their actual times, outcomes and exceptions. Times are "
                "ISO 8601 in UTC ('Z'); days are local days in the gateway's TIMEZONE "
                "(Europe/London). A PUT sent twice with the same body reports 'unchanged'."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "webhooks": {"change": {"post": {
            "operationId": "deliverChange", "tags": ["webhooks"],
            "summary": "A change feed entry POSTed to a subscription's URL, signed per Standard "
                       "Webhooks (webhook-id, webhook-timestamp, webhook-signature: v1, "
                       "HMAC-SHA256 of id.timestamp.body with the whsec_ secret). Answer 2xx.",
            "requestBody": {"required": True, "content": _content(refs["WebhookDelivery"])},
            "responses": {"200": {"description": "Stored (any 2xx)."}}}}},
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "ivr-gateway api-token create"}},
        },
    }



@blueprint.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3.1 document of this API (no token needed)."""
    return openapi_document()
