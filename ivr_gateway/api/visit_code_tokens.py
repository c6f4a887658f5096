"""/api/v1/visit-code-tokens: key-fob tokens kept in clients' homes, by serial."""

from __future__ import annotations

from flask import Response, g

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.payload import json_body, json_response, status_of
from ivr_gateway.api.schemas import TokenResponse
from ivr_gateway.sms.devices import TokenIn, get_token, register_token


@blueprint.put("/visit-code-tokens/<ref>")
def put_visit_code_token(ref: str) -> Response:
    """Register a token by serial, or change its client, digits, step or secret."""
    data = json_body(TokenIn)
    with extensions.database().unit_of_work() as session:
        change, view = register_token(session, ref, data, settings=extensions.settings(),
                                      now=extensions.clock().now(), actor=g.api_actor)
    return json_response(TokenResponse(change=change, token=view), status_of(change))


@blueprint.get("/visit-code-tokens/<ref>")
def get_visit_code_token(ref: str) -> Response:
    """A token by serial (never its secret)."""
    with extensions.database().unit_of_work() as session:
        view = get_token(session, ref)
    return json_response(view)
