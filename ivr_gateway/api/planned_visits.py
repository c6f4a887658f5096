"""/api/v1/planned-visits: the rota, replaced whole by the rostering system's reference."""

from __future__ import annotations

from flask import Response, g, request

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.payload import json_body, json_object, json_response, status_of
from ivr_gateway.api.schemas import PlannedVisitResponse
from ivr_gateway.rota import service
from ivr_gateway.rota.schemas import PlannedVisitIn, validation_context
from ivr_gateway.rota.service import WITHDRAWN, check_reason


@blueprint.put("/planned-visits/<ref>")
def put_planned_visit(ref: str) -> Response:
    """Create or replace a planned visit by its reference."""
    data = json_body(PlannedVisitIn, context=validation_context(extensions.settings()))
    with extensions.database().unit_of_work() as session:
        result = service.upsert_planned_visit(session, ref, data,
                                              settings=extensions.settings(),
                                              now=extensions.clock().now(), actor=g.api_actor)
    return json_response(PlannedVisitResponse(change=result.change, planned_visit=result.view),
                         status_of(result.change))


@blueprint.patch("/planned-visits/<ref>")
def patch_planned_visit(ref: str) -> Response:
    """Change only the fields given of a planned visit (JSON merge patch)."""
    patch = json_object()
    with extensions.database().unit_of_work() as session:
        result = service.patch_planned_visit(session, ref, patch,
                                             settings=extensions.settings(),
                                             now=extensions.clock().now(), actor=g.api_actor)
    return json_response(PlannedVisitResponse(change=result.change, planned_visit=result.view))


@blueprint.delete("/planned-visits/<ref>")
def withdraw_planned_visit(ref: str) -> Response:
    """Withdraw a visit before it starts (cancelled with ?reason=, default WITHDRAWN); 409 after."""
    reason = check_reason(request.args.get("reason", WITHDRAWN))
    with extensions.database().unit_of_work() as session:
        result = service.withdraw_planned_visit(session, ref, settings=extensions.settings(),
                                                now=extensions.clock().now(), actor=g.api_actor,
                                                reason=reason)
    return json_response(PlannedVisitResponse(change=result.change, planned_visit=result.view))


@blueprint.get("/planned-visits/<ref>")
def get_planned_visit(ref: str) -> Response:
    """A planned visit by its reference."""
    with extensions.database().unit_of_work() as session:
        view = service.get_planned_visit(session, ref)
    return json_response(view)
