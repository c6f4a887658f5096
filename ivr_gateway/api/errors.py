"""Every error under /api/v1 as JSON: {"error": {"code": ..., "message": ...}}.

The refusals of the services (rota, contacts), malformed bodies, auth, and also what Flask and
Werkzeug answer themselves (404 for an unknown path, 405 with its Allow header, 413 for a body
too large, 500 for a bug): a rostering system never gets an HTML error page from the API.
"""

from __future__ import annotations

from flask import Response, current_app, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ivr_gateway.api.blueprint import URL_PREFIX, blueprint
from ivr_gateway.api.schemas import ErrorDetail, ErrorResponse, FieldError
from ivr_gateway.escalation.contacts import ContactError
from ivr_gateway.rota.service import FieldProblem, InvalidRota, NotFound, RotaError


class ApiError(Exception):
    """A refusal at the HTTP edge (auth, malformed body, unknown id) with its status and code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


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


@blueprint.errorhandler(ContactError)
def _contact_error(error: ContactError) -> Response:
    return error_response(error.status, error.code, error.message)


@blueprint.errorhandler(IntegrityError)
def _integrity_error(_error: IntegrityError) -> Response:
    # Two requests creating the same ref at once: one wins, the other is told to retry.
    return error_response(409, "conflict", "Another request changed the same record at the "
                          "same moment; send the request again.")


# What Werkzeug raises, in the API's words (the code names what went wrong).
_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request could not be read; send JSON with the header "
                         "'Content-Type: application/json'."),
    404: ("not_found", "There is no such path in /api/v1; see /api/v1/openapi.json."),
    405: ("method_not_allowed", "That method is not allowed on this path; the Allow header "
                                "lists the ones that are."),
    413: ("body_too_large", "The request body is too large; send one record per request."),
    500: ("internal_error", "Something went wrong in the gateway; nothing was changed. Send "
                            "the request again later, and tell the office if it keeps "
                            "happening."),
}


def http_error(error: HTTPException) -> Response:
    """An HTTP error raised by Flask or Werkzeug (not by our code) as the API's JSON error."""
    status = error.code or 500
    code, message = _HTTP_ERRORS.get(status, (error.name.lower().replace(" ", "_"),
                                              error.description or error.name))
    headers: dict[str, str] = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    return error_response(status, code, message, headers=headers)


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    return http_error(error)


@blueprint.errorhandler(RecursionError)
def _too_deep(_error: RecursionError) -> Response:
    # JSON nested thousands deep exhausts the parser's recursion: the caller's mistake, not ours.
    return error_response(400, "too_deeply_nested", "The JSON is nested too deeply to read; "
                          "send the records flat, as /api/v1/openapi.json describes.")


@blueprint.errorhandler(Exception)
def _unexpected_error(error: Exception) -> Response:
    # A bug: logged with its traceback for us, a JSON 500 for the caller; the unit of work has
    # rolled back, so nothing was half-stored.
    current_app.logger.exception("Unhandled error in %s %s", request.method, request.path,
                                 exc_info=error)
    return error_response(500, *_HTTP_ERRORS[500])


def is_api_request() -> bool:
    """Whether the current request is under /api/v1 (matched to a route or not)."""
    return request.path == URL_PREFIX or request.path.startswith(URL_PREFIX + "/")
