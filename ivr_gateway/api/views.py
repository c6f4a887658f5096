"""/api/v1: the JSON API for rostering systems (bearer-token auth), described at /openapi.json."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, TypeVar

from flask import Blueprint, Response, g, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ivr_gateway import extensions
from ivr_gateway.api.models import ApiToken
from ivr_gateway.api.openapi import openapi_document
from ivr_gateway.api.schemas import (
    AdultResponse,
    CareWorkerResponse,
    ErrorDetail,
    ErrorResponse,
    FieldError,
    LockoutsResponse,
    OutboxFiguresResponse,
    PlannedVisitResponse,
    VisitOut,
    VisitsResponse,
)
from ivr_gateway.ecc.operations import outbox_figures
from ivr_gateway.hashing import hash_api_token
from ivr_gateway.rota import service
from ivr_gateway.rota.schemas import AdultIn, CareWorkerIn, PlannedVisitIn, validation_context
from ivr_gateway.rota.service import FieldProblem, InvalidRota, NotFound, RotaError
from ivr_gateway.visits.queries import visits_for_day

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """A refusal at the HTTP edge (auth, malformed body) with its status and error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status=status, mimetype="application/json")


def error_response(status: int, code: str, message: str,
                   fields: list[FieldProblem] | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """The API's one error shape: {"error": {"code", "message", "fields"?}}."""
    detail = ErrorDetail(code=code, message=message, fields=None if fields is None else [
        FieldError(field=f.field, message=f.message) for f in fields])
    body = ErrorResponse(error=detail).model_dump_json(exclude_none=True)
    return Response(body, status=status, mimetype="application/json", headers=headers)


@blueprint.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="ivr-gateway"'} if error.status == 401 else {}
    return error_response(error.status, error.code, error.message, headers=headers)


@blueprint.errorhandler(RotaError)
def _rota_error(error: RotaError) -> Response:
    if isinstance(error, InvalidRota):
        return error_response(422, error.code, error.message, error.fields)
    if isinstance(error, NotFound):
        return error_response(404, error.code, error.message)
    return error_response(409, "conflict", error.message)


@blueprint.errorhandler(IntegrityError)
def _integrity_error(_error: IntegrityError) -> Response:
    # Two requests creating the same ref at once: one wins, the other is told to retry.
    return error_response(409, "conflict", "Another request changed the same record at the "
                          "same moment; send the request again.")


@blueprint.before_request
def _authenticate() -> None:
    """Every endpoint but the OpenAPI document needs a live bearer token."""
    if request.endpoint == "api.openapi":
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "Send the header 'Authorization: Bearer <token>'; "
                       "the office creates tokens with 'ivr-gateway api-token create NAME'.")
    with extensions.database().unit_of_work() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_api_token(token)))
        if row is None:
            raise ApiError(401, "invalid_token", "The bearer token is not recognised; check it "
                           "was copied whole, or ask the office for a new one.")
        if row.revoked_at is not None:
            raise ApiError(401, "token_revoked", f"The token {row.name!r} has been revoked; ask "
                           "the office for a new one.")
        row.last_used_at = extensions.clock().now()
        g.api_actor = f"api:{row.name}"


def _body(model: type[M]) -> M:
    """The request's JSON object validated into `model`, or a 400/422 naming what is wrong."""
    if not request.is_json:
        raise ApiError(400, "bad_request", "Send the body as JSON with the header "
                       "'Content-Type: application/json'.")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "bad_request", "The body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "The body must be a JSON object ({...}).")
    try:
        return model.model_validate(data, context=validation_context(extensions.settings()))
    except ValidationError as error:
        raise service.invalid_from(error) from None


def _status(change: str) -> int:
    return 201 if change == "created" else 200


@blueprint.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3.1 document of this API (no token needed)."""
    return openapi_document()


@blueprint.put("/adults/<ref>")
def put_adult(ref: str) -> Response:
    """Create or update a client by its reference."""
    data = _body(AdultIn)
    with extensions.database().unit_of_work() as session:
        result = service.upsert_adult(session, ref, data, settings=extensions.settings(),
                                      now=extensions.clock().now(), actor=g.api_actor)
    return _json(AdultResponse(change=result.change, adult=result.view), _status(result.change))


@blueprint.get("/adults/<ref>")
def get_adult(ref: str) -> Response:
    """A client by its reference."""
    with extensions.database().unit_of_work() as session:
        view = service.get_adult(session, ref)
    return _json(view)


@blueprint.put("/care-workers/<ref>")
def put_care_worker(ref: str) -> Response:
    """Create or update a carer by their reference (a PIN given is set; it is never returned)."""
    data = _body(CareWorkerIn)
    with extensions.database().unit_of_work() as session:
        result = service.upsert_care_worker(session, ref, data, settings=extensions.settings(),
                                            now=extensions.clock().now(), actor=g.api_actor)
    return _json(CareWorkerResponse(change=result.change, care_worker=result.view),
                 _status(result.change))


@blueprint.get("/care-workers/<ref>")
def get_care_worker(ref: str) -> Response:
    """A carer by their reference, with any lockout; never the PIN."""
    with extensions.database().unit_of_work() as session:
        view = service.get_care_worker(session, ref)
    return _json(view)


@blueprint.post("/care-workers/<ref>/unlock")
def unlock_care_worker(ref: str) -> Response:
    """Lift a carer's PIN lockout."""
    with extensions.database().unit_of_work() as session:
        result = service.unlock_care_worker(session, ref, now=extensions.clock().now(),
                                            actor=g.api_actor)
    return _json(CareWorkerResponse(change=result.change, care_worker=result.view))


@blueprint.get("/lockouts")
def lockouts() -> Response:
    """Carers locked out right now after too many wrong PINs."""
    with extensions.database().unit_of_work() as session:
        locked = service.list_lockouts(session, extensions.clock().now())
    return _json(LockoutsResponse(lockouts=locked))


@blueprint.put("/planned-visits/<ref>")
def put_planned_visit(ref: str) -> Response:
    """Create or replace a planned visit by its reference."""
    data = _body(PlannedVisitIn)
    with extensions.database().unit_of_work() as session:
        result = service.upsert_planned_visit(session, ref, data,
                                              settings=extensions.settings(),
                                              now=extensions.clock().now(), actor=g.api_actor)
    return _json(PlannedVisitResponse(change=result.change, planned_visit=result.view),
                 _status(result.change))


@blueprint.get("/planned-visits/<ref>")
def get_planned_visit(ref: str) -> Response:
    """A planned visit by its reference."""
    with extensions.database().unit_of_work() as session:
        view = service.get_planned_visit(session, ref)
    return _json(view)


@blueprint.get("/visits")
def visits() -> Response:
    """The visits of one local day with actual times, outcomes and exceptions."""
    raw = request.args.get("date", "")
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidRota.of("date", f"give the day as ?date=YYYY-MM-DD, not {raw!r}") from None
    settings = extensions.settings()
    with extensions.database().unit_of_work() as session:
        summaries = visits_for_day(session, day, settings, extensions.clock().now())
        out = [VisitOut.model_validate(s, from_attributes=True) for s in summaries]
    return _json(VisitsResponse(date=day.isoformat(), timezone=settings.timezone, visits=out))


@blueprint.get("/outbox")
def outbox() -> Response:
    """Outbox figures for monitoring: pending, oldest pending age, dead letters, by kind."""
    with extensions.database().unit_of_work() as session:
        figures = outbox_figures(session, extensions.clock().now())
    return _json(OutboxFiguresResponse.model_validate(figures))


# Other packages' endpoints under /api/v1, behind the same token check (nested blueprints).
from ivr_gateway.escalation.api import blueprint as _escalation_api  # noqa: E402

blueprint.register_blueprint(_escalation_api)
