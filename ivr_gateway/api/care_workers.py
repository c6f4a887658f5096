"""/api/v1/care-workers and /api/v1/lockouts: carers, their PINs and PIN lockouts."""

from __future__ import annotations

from flask import Response, g

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.paging import page_request, paged
from ivr_gateway.api.payload import json_body, json_object, json_response, status_of
from ivr_gateway.api.schemas import CareWorkerResponse, LockoutsResponse
from ivr_gateway.rota import service
from ivr_gateway.rota.schemas import CareWorkerIn, validation_context


@blueprint.put("/care-workers/<ref>")
def put_care_worker(ref: str) -> Response:
    """Create or update a carer by their reference (a PIN given is set; it is never returned)."""
    data = json_body(CareWorkerIn, context=validation_context(extensions.settings()))
    with extensions.database().unit_of_work() as session:
        result = service.upsert_care_worker(session, ref, data, settings=extensions.settings(),
                                            now=extensions.clock().now(), actor=g.api_actor)
    return json_response(CareWorkerResponse(change=result.change, care_worker=result.view),
                         status_of(result.change))


@blueprint.patch("/care-workers/<ref>")
def patch_care_worker(ref: str) -> Response:
    """Change only the fields given of a carer: a PIN alone, or active false for a leaver."""
    patch = json_object()
    with extensions.database().unit_of_work() as session:
        result = service.patch_care_worker(session, ref, patch, settings=extensions.settings(),
                                           now=extensions.clock().now(), actor=g.api_actor)
    return json_response(CareWorkerResponse(change=result.change, care_worker=result.view))


@blueprint.get("/care-workers/<ref>")
def get_care_worker(ref: str) -> Response:
    """A carer by their reference, with any lockout; never the PIN."""
    with extensions.database().unit_of_work() as session:
        view = service.get_care_worker(session, ref)
    return json_response(view)


@blueprint.post("/care-workers/<ref>/unlock")
def unlock_care_worker(ref: str) -> Response:
    """Lift a carer's PIN lockout."""
    with extensions.database().unit_of_work() as session:
        result = service.unlock_care_worker(session, ref, now=extensions.clock().now(),
                                            actor=g.api_actor)
    return json_response(CareWorkerResponse(change=result.change, care_worker=result.view))


@blueprint.get("/lockouts")
def lockouts() -> Response:
    """Carers locked out right now after too many wrong PINs."""
    page = page_request()
    with extensions.database().unit_of_work() as session:
        locked = service.list_lockouts(session, extensions.clock().now())
    chosen, next_cursor = paged(locked, lambda c: (c.locked_until.isoformat(), c.ref), page)
    return json_response(LockoutsResponse(lockouts=chosen, next_cursor=next_cursor))
