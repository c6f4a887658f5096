"""The escalation's operations in the /api/v1 OpenAPI document."""

from __future__ import annotations

from ivr_gateway.api.openapi import Operation
from ivr_gateway.escalation.schemas import (
    AcknowledgeIn,
    AcknowledgeResponse,
    AlertOut,
    AlertsResponse,
    ContactIn,
    ContactResponse,
    ContactsResponse,
    OnCallIn,
    OnCallListResponse,
    OnCallResponse,
)

_ID = {"name": "id", "in": "path", "required": True, "description": "The record's id.",
       "schema": {"type": "integer"}}
_TIME = {"type": "string", "format": "date-time"}

OPERATIONS = [
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
]
