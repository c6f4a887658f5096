"""/api/v1/outbox: the outbox figures monitoring watches (ecc/operations.py computes them)."""

from __future__ import annotations

from flask import Response

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.payload import json_response
from ivr_gateway.api.schemas import OutboxFiguresResponse
from ivr_gateway.ecc.operations import outbox_figures


@blueprint.get("/outbox")
def outbox() -> Response:
    """Outbox figures for monitoring: pending, oldest pending age, dead letters, by kind."""
    with extensions.database().unit_of_work() as session:
        figures = outbox_figures(session, extensions.clock().now())
    return json_response(OutboxFiguresResponse.model_validate(figures))
