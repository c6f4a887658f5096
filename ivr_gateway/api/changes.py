"""/api/v1/changes: the change feed, page by page from an opaque cursor (visits/feed.py)."""

from __future__ import annotations

from flask import Response, request

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.payload import json_response
from ivr_gateway.rota.service import InvalidRota
from ivr_gateway.visits.feed import DEFAULT_LIMIT, MAX_LIMIT, BadCursor, Position, read_changes
from ivr_gateway.webhooks.payloads import ChangesResponse


@blueprint.get("/changes")
def changes() -> Response:
    """The feed's entries after ?after= (none: from the beginning), up to ?limit=."""
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise InvalidRota.of("limit", f"give a limit from 1 to {MAX_LIMIT}, not {raw_limit!r}")
    try:
        after = Position.of_cursor(request.args.get("after"))
    except BadCursor as error:
        raise InvalidRota.of("after", str(error)) from None
    with extensions.database().unit_of_work() as session:
        page = read_changes(session, after, int(raw_limit), extensions.settings(),
                            extensions.clock().now())
        return json_response(ChangesResponse.of(page))
