"""/api/v1/adults: clients, upserted by the rostering system's own reference."""

from __future__ import annotations

from flask import Response, g

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.payload import json_body, json_object, json_response, status_of
from ivr_gateway.api.schemas import AdultResponse
from ivr_gateway.rota import service
from ivr_gateway.rota.schemas import AdultIn, validation_context


@blueprint.put("/adults/<ref>")
def put_adult(ref: str) -> Response:
    """Create or update a client by its reference."""
    data = json_body(AdultIn, context=validation_context(extensions.settings()))
    with extensions.database().unit_of_work() as session:
        result = service.upsert_adult(session, ref, data, settings=extensions.settings(),
                                      now=extensions.clock().now(), actor=g.api_actor)
    return json_response(AdultResponse(change=result.change, adult=result.view),
                         status_of(result.change))


@blueprint.patch("/adults/<ref>")
def patch_adult(ref: str) -> Response:
    """Change only the fields given of a client (JSON merge patch)."""
    patch = json_object()
    with extensions.database().unit_of_work() as session:
        result = service.patch_adult(session, ref, patch, settings=extensions.settings(),
                                     now=extensions.clock().now(), actor=g.api_actor)
    return json_response(AdultResponse(change=result.change, adult=result.view))


@blueprint.get("/adults/<ref>")
def get_adult(ref: str) -> Response:
    """A client by its reference."""
    with extensions.database().unit_of_work() as session:
        view = service.get_adult(session, ref)
    return json_response(view)
