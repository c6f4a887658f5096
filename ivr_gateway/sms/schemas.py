"""The SMS channel's part of /api/v1: response models and the operations for the OpenAPI document.

The operations are plain keyword arguments of ivr_gateway.api.openapi.Operation, so this module
does not import the API package (which imports it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ivr_gateway.sms.devices import TokenIn, TokenView


class TokenResponse(BaseModel):
    """The result of a PUT of a visit-code token."""

    change: Literal["created", "updated", "unchanged"]
    token: TokenView


class TextOut(BaseModel):
    """An inbound text, matched or not: evidence for the office."""

    message_sid: str
    from_number: str
    received_at: datetime
    body: str
    care_worker_ref: str | None = Field(description="null: the mobile is not registered.")
    adult_ref: str | None
    adult_initials: str | None
    command: str = Field(description="in, out, code, text, help, ack, stop, start")
    status: str = Field(description="logged, unregistered, no_code, unknown_code, check_code, "
                                    "used_code, too_old, other_client, sheet_retired, no_visit, "
                                    "locked, help, ack, opted_out, opted_in, fault")
    needs_office: bool = Field(description="true: the office should look at this text.")
    detail: str
    reply: str = Field(description="The reply texted back (empty: none).")
    log_event_id: int | None


class TextsResponse(BaseModel):
    """The texts of one local day."""

    date: str
    timezone: str
    texts: list[TextOut]


class OptOutOut(BaseModel):
    """A number that texted STOP: it receives no texts from the gateway until START."""

    number: str
    care_worker_ref: str | None
    since: datetime


class OptOutsResponse(BaseModel):
    """Numbers that cannot receive texts now."""

    opt_outs: list[OptOutOut]


_DATE = {"name": "date", "in": "query", "required": True,
         "description": "The local day (TIMEZONE, default Europe/London).",
         "schema": {"type": "string", "format": "date"}}
_NEEDS_OFFICE = {"name": "needs_office", "in": "query", "required": False,
                 "description": "true: only the texts the office should look at (unregistered "
                                "mobiles, codes of another client, lockouts, STOP ...).",
                 "schema": {"type": "boolean"}}

OPERATIONS: list[dict[str, Any]] = [
    {"path": "/visit-code-tokens/{ref}", "method": "put", "operation_id": "putVisitCodeToken",
     "summary": "Register a visit-code token (by its serial) or give it to a client",
     "tag": "sms", "ok": {200: TokenResponse, 201: TokenResponse}, "request": TokenIn,
     "errors": (400, 401, 409, 422)},
    {"path": "/visit-code-tokens/{ref}", "method": "get", "operation_id": "getVisitCodeToken",
     "summary": "Read a visit-code token by its serial (never its secret)", "tag": "sms",
     "ok": {200: TokenView}, "errors": (401, 404)},
    {"path": "/texts", "method": "get", "operation_id": "listTexts",
     "summary": "A local day's inbound texts, matched or not, with the replies given",
     "tag": "sms", "ok": {200: TextsResponse}, "errors": (401, 422),
     "query": [_DATE, _NEEDS_OFFICE]},
    {"path": "/sms-opt-outs", "method": "get", "operation_id": "listSmsOptOuts",
     "summary": "Numbers that texted STOP and so receive no texts", "tag": "sms",
     "ok": {200: OptOutsResponse}},
]
