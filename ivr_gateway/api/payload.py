"""Reading a request (JSON body, query values) and writing a JSON response, for every resource."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, TypeVar

from flask import Response, request
from pydantic import BaseModel, ValidationError

from ivr_gateway.api.errors import ApiError
from ivr_gateway.bounds import DAY_RANGE, day_in_range
from ivr_gateway.rota.service import InvalidRota, invalid_from

M = TypeVar("M", bound=BaseModel)


def json_response(model: BaseModel, status: int = 200) -> Response:
    """A response model as the JSON body of an answer."""
    return Response(model.model_dump_json(), status=status, mimetype="application/json")


def status_of(change: str) -> int:
    """201 for a PUT that created its record, else 200."""
    return 201 if change == "created" else 200


def json_body(model: type[M], *, context: dict[str, Any] | None = None,
              optional: bool = False) -> M:
    """The request's JSON object validated into `model`, or a 400/422 naming what is wrong.

    `optional`: an empty body means the model's defaults (e.g. an acknowledgement without a
    note).
    """
    if optional and not request.get_data():
        return model()
    data = json_object()
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        raise invalid_from(error) from None


def json_object() -> dict[str, Any]:
    """The request's body as a JSON object, or a 400 saying what is wrong with it."""
    if not request.is_json:
        raise ApiError(400, "bad_request", "Send the body as JSON with the header "
                       "'Content-Type: application/json'.")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "bad_request", "The body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "The body must be a JSON object ({...}).")
    return data


def day_arg(name: str = "date") -> date:
    """A required ?date=YYYY-MM-DD (a local day), or a 422 naming it."""
    raw = request.args.get(name, "")
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidRota.of(name, f"give the day as ?{name}=YYYY-MM-DD, not {raw!r}") from None
    if not day_in_range(day):
        raise InvalidRota.of(name, f"give a day {DAY_RANGE}, not {raw}")
    return day


def time_arg(name: str, default: datetime) -> datetime:
    """An optional ISO 8601 time with a zone (?from=2026-01-13T18:00:00Z), or a 422 naming it."""
    raw = request.args.get(name)
    if raw is None:  # absent; given but empty is refused below, not read as absent
        return default
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise InvalidRota.of(name, "give an ISO 8601 time with a zone, e.g. 2026-01-13T18:00:00Z")
    if not day_in_range(value):
        raise InvalidRota.of(name, f"give a time on a day {DAY_RANGE}")
    return value
