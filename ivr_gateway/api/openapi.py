"""The OpenAPI 3.1 document of /api/v1, generated from the models the API validates with, and
GET /api/v1/openapi.json that serves it (no token needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ivr_gateway.api.blueprint import blueprint
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
    TextsResponse,
    TokenResponse,
    VisitsResponse,
)
from ivr_gateway.rota.schemas import (
    AdultIn,
    AdultView,
    CareWorkerIn,
    CareWorkerView,
    PlannedVisitIn,
    PlannedVisitView,
)
from ivr_gateway.sms.devices import TokenIn, TokenView

REF_TEMPLATE = "#/components/schemas/{model}"

_ERRORS = {
    400: ("The request cannot be read: the body is not a JSON object sent as "
          "application/json, or is nested too deeply, or the request holds a NUL character."),
    413: "The body is larger than the gateway accepts (16 MB).",
    401: "No bearer token, or one that is unknown or revoked.",
    404: "No record with that reference.",
    409: "A concurrent request changed the same record; send it again.",
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


_PUT_ERRORS = (400, 401, 409, 422)
_DATE = {"name": "date", "in": "query", "required": True,
         "description": "The local day (TIMEZONE, default Europe/London).",
         "schema": {"type": "string", "format": "date"}}
_NEEDS_OFFICE = {"name": "needs_office", "in": "query", "required": False,
                 "description": "true: only the texts the office should look at (unregistered "
                                "mobiles, codes of another client, lockouts, STOP ...).",
                 "schema": {"type": "boolean"}}
_ID = {"name": "id", "in": "path", "required": True, "description": "The record's id.",
       "schema": {"type": "integer"}}
_TIME = {"type": "string", "format": "date-time"}

OPERATIONS: list[Operation] = [
    Operation("/adults/{ref}", "put", "putAdult",
              "Create or update a client (adult) by your reference", "adults",
              {200: AdultResponse, 201: AdultResponse}, AdultIn, _PUT_ERRORS),
    Operation("/adults/{ref}", "get", "getAdult", "Read a client by your reference", "adults",
              {200: AdultView}, errors=(401, 404)),
    Operation("/care-workers/{ref}", "put", "putCareWorker",
              "Create or update a care worker; a pin given is set, never returned",
              "care-workers", {200: CareWorkerResponse, 201: CareWorkerResponse}, CareWorkerIn,
              _PUT_ERRORS),
    Operation("/care-workers/{ref}", "get", "getCareWorker",
              "Read a care worker with any PIN lockout", "care-workers", {200: CareWorkerView},
              errors=(401, 404)),
    Operation("/care-workers/{ref}/unlock", "post", "unlockCareWorker",
              "Lift a care worker's PIN lockout", "care-workers", {200: CareWorkerResponse},
              errors=(401, 404)),
    Operation("/lockouts", "get", "listLockouts",
              "Care workers locked out now after too many wrong PINs", "care-workers",
              {200: LockoutsResponse}),
    Operation("/planned-visits/{ref}", "put", "putPlannedVisit",
              "Create or replace a planned visit by your reference", "planned-visits",
              {200: PlannedVisitResponse, 201: PlannedVisitResponse}, PlannedVisitIn,
              _PUT_ERRORS),
    Operation("/planned-visits/{ref}", "get", "getPlannedVisit",
              "Read a planned visit by your reference", "planned-visits",
              {200: PlannedVisitView}, errors=(401, 404)),
    Operation("/visits", "get", "listVisits",
              "A local day's visits with actual times, outcomes and exceptions", "visits",
              {200: VisitsResponse}, errors=(401, 422), query=[_DATE]),
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
              {200: TextsResponse}, errors=(401, 422), query=[_DATE, _NEEDS_OFFICE]),
    Operation("/sms-opt-outs", "get", "listSmsOptOuts",
              "Numbers that texted STOP and so receive no texts", "sms",
              {200: OptOutsResponse}),
    Operation("/alerts", "get", "listAlerts", "Alerts, newest first, with who was told when",
              "alerts", {200: AlertsResponse}, errors=(401, 422),
              query=[{"name": "state", "in": "query", "required": False,
                      "description": "open, acknowledged, resolved, or unresolved (open and "
                                     "acknowledged); all when absent.",
                      "schema": {"type": "string",
                                 "enum": ["open", "acknowledged", "resolved", "unresolved"]}}]),
    Operation("/alerts/{id}", "get", "getAlert", "One alert", "alerts", {200: AlertOut},
              errors=(401, 404), query=[_ID]),
    Operation("/alerts/{id}/acknowledge", "post", "acknowledgeAlert",
              "Acknowledge an alert: it stops climbing and the others told hear who has it "
              "(a carer_concern is resolved by it)",
              "alerts", {200: AcknowledgeResponse}, AcknowledgeIn, errors=(400, 401, 404, 422),
              query=[_ID]),
    Operation("/office-contacts", "get", "listOfficeContacts",
              "Office contacts the ladder can reach", "office-contacts",
              {200: ContactsResponse}),
    Operation("/office-contacts", "post", "createOfficeContact",
              "Add an office contact (coordinator, on_call or manager)", "office-contacts",
              {201: ContactResponse}, ContactIn, errors=(400, 401, 409, 422)),
    Operation("/on-call-periods", "get", "listOnCallPeriods",
              "On-call periods overlapping a time range", "on-call",
              {200: OnCallListResponse}, errors=(401, 422),
              query=[{"name": "from", "in": "query", "required": False,
                      "description": "Start (default now).", "schema": _TIME},
                     {"name": "to", "in": "query", "required": False,
                      "description": "End (default 7 days after the start).", "schema": _TIME}]),
    Operation("/on-call-periods", "post", "createOnCallPeriod",
              "Put a contact on call for a period", "on-call", {201: OnCallResponse},
              OnCallIn, errors=(400, 401, 404, 422)),
    Operation("/on-call-periods/{id}", "delete", "deleteOnCallPeriod",
              "Remove an on-call period", "on-call", {200: OnCallResponse},
              errors=(401, 404), query=[_ID]),
    Operation("/openapi.json", "get", "getOpenApi", "This document", "meta", {200: None},
              errors=(), authenticated=False),
]

_OK_TEXT = {200: "OK", 201: "Created"}


def _schemas() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    inputs = {op.request for op in OPERATIONS if op.request is not None}
    outputs = {m for op in OPERATIONS for m in op.ok.values() if m is not None} | {ErrorResponse}
    keys: list[tuple[type[BaseModel], Any]] = [
        *((m, "validation") for m in sorted(inputs, key=lambda m: m.__name__)),
        *((m, "serialization") for m in sorted(outputs, key=lambda m: m.__name__)),
    ]
    mapping, top = models_json_schema(keys, ref_template=REF_TEMPLATE)
    refs = {model: schema["$ref"] for (model, _mode), schema in mapping.items()}
    return {m.__name__: {"$ref": refs[m]} for m, _ in keys}, top.get("$defs", {})


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once; it depends only on code)."""
    refs, components = _schemas()
    error_ref = refs["ErrorResponse"]
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        responses: dict[str, Any] = {}
        for status, model in op.ok.items():
            schema = refs[model.__name__] if model is not None else {"type": "object"}
            responses[str(status)] = {"description": _OK_TEXT[status],
                                      "content": _content(schema)}
        # Any request may be refused before its operation reads it (ivr_gateway/request_guards:
        # a NUL character, JSON nested too deep: 400), and a body over the limit is a 413.
        guarded = {400, 413} if op.request is not None else {400}
        for status in sorted({*op.errors, *guarded}):
            responses[str(status)] = {"description": _ERRORS[status],
                                      "content": _content(error_ref)}
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
