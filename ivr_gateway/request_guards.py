"""Odd input gets a clear 4xx, never a 500 (issue "Nothing lost, no one in", finding 7).

What the database or the parser would otherwise fail on, refused at the edge in one place:
- ids in URLs beyond PostgreSQL's ``integer`` (the ``int`` converter stops at 2**31 - 1, so a
  larger id is a 404 like any other unknown id, on SQLite as on PostgreSQL);
- a NUL character in a query string, form field or JSON body (PostgreSQL refuses it in text and
  in jsonb): 400, except on Twilio's webhooks, which store it escaped as evidence and apologise;
- JSON nested too deep for the parser (RecursionError): 400;
- days outside the years the gateway serves (``9999-12-31`` overflows the time arithmetic).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, current_app, jsonify, render_template, request
from werkzeug.routing import IntegerConverter

from ivr_gateway.bounds import (  # noqa: F401 - the guards' ranges, used by their callers too
    DAY_RANGE,
    FIRST_DAY,
    LAST_DAY,
    PG_INT_MAX,
    day_in_range,
    fits_integer_column,
)


class DatabaseIntegerConverter(IntegerConverter):
    """``<int:id>``: any whole number matches the route; one beyond PostgreSQL's integer is then
    answered 404 like any other unknown id (init_request_guards).

    Not the converter's own ``max``: with it, werkzeug's matcher skips the rule of the request's
    method but still counts the same path's other methods, so a DELETE of a huge id was a 405
    naming GET and PATCH (schemathesis found it).
    """


def is_safe_office_target(target: str) -> bool:
    """A ?next= to go back to after the login: a dashboard path, no control characters (a CRLF
    would split the Location header), not another site (``//host``, ``/office/\\host``)."""
    return (target.startswith("/office/") and not target.startswith("//") and "\\" not in target
            and target.isprintable())


def _has_nul() -> bool:
    if "\x00" in request.path:
        return True
    if any("\x00" in key or "\x00" in value
           for key, value in request.args.items(multi=True)):
        return True
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return any("\x00" in key or "\x00" in value
                   for key, value in request.form.items(multi=True))
    if request.is_json:
        body = request.get_data(cache=True)
        return b"\x00" in body or b"\\u0000" in body
    return False


def _refuse(status: int, code: str, message: str) -> Any:
    from ivr_gateway.api.errors import error_response, is_api_request

    if is_api_request():
        return error_response(status, code, message)
    if request.path.startswith("/office/") and "office" in current_app.blueprints:
        return render_template("office/error.html", title="Not accepted",
                               message=message), status
    return jsonify(error={"code": code, "message": message}), status


def init_request_guards(app: Flask) -> None:
    """Install the guards (before any blueprint is registered: the converter binds then)."""
    app.url_map.converters["int"] = DatabaseIntegerConverter

    @app.url_value_preprocessor
    def _ids_in_range(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        if values and any(isinstance(v, int) and v > PG_INT_MAX for v in values.values()):
            abort(404)

    @app.before_request
    def _refuse_nul() -> Any:
        # Twilio's webhooks keep what they were sent as evidence, escaped (telephony/evidence).
        if request.path.startswith("/twilio/"):
            return None
        if _has_nul():
            return _refuse(400, "nul_character", "Text may not contain the NUL character "
                           "(\\u0000); remove it and send again.")
        return None

    @app.errorhandler(RecursionError)
    def _too_deep(_error: RecursionError) -> Any:
        return _refuse(400, "too_deeply_nested", "The JSON is nested too deeply to read; send "
                       "the records flat, as /api/v1/openapi.json describes.")
