"""/office/ (the board) and /office/board/live (its refresh): a page of rows, search, grouping.

The live refresh sends the ETag of what it showed (If-None-Match) and gets 304 when the day's
data, the minute and the question are unchanged: a few indexed aggregates, no rows judged, no
body. A refresh whose session ended gets 401 with `X-Office-Session: ended` (not a redirect to
the login page, which a script would follow and show as rows), so the page can say so loudly.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from flask import Response, current_app, g, render_template, request

from ivr_gateway import extensions
from ivr_gateway.bounds import day_in_range
from ivr_gateway.office.auth import current_user, requires, role_refusal
from ivr_gateway.office.board import FILTERS
from ivr_gateway.office.board_index import build_index, day_version
from ivr_gateway.office.board_page import (
    GROUPS,
    PAGE_SIZE,
    BoardQuery,
    build_board_page,
    store_index,
)
from ivr_gateway.office.models import OfficeRole
from ivr_gateway.office.providers import alert_source
from ivr_gateway.office.views import blueprint

SEARCH_LONGEST = 100


def _today() -> date:
    return extensions.clock().now().astimezone(extensions.settings().tz).date()


def board_query() -> BoardQuery:
    """The board's query parameters, odd values read as the default."""
    args = request.args
    try:
        day = date.fromisoformat(args.get("date", "")) if args.get("date") else _today()
    except ValueError:
        day = _today()
    if not day_in_range(day):  # 9999-12-31 or 0001-01-02: no rota there, and no 500
        day = _today()
    status = args.get("status", "all")
    try:
        page = max(1, int(args.get("page", "1")))
    except ValueError:
        page = 1
    return BoardQuery(day=day, status=status if status in FILTERS else "all",
                      carer=args.get("carer", "")[:64],
                      q=args.get("q", "").strip()[:SEARCH_LONGEST],
                      group=group if (group := args.get("group", "")) in GROUPS else "",
                      page=page)


def _rebuild(day: date) -> Any:
    """A background job that judges the whole day again (big days with no scheduler keeping
    the stored index: see board_page)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def job() -> None:
        with app.app_context():
            settings, clock = extensions.settings(), extensions.clock()
            with extensions.database().unit_of_work() as db:
                version = day_version(db, day, settings)
                store_index(build_index(db, day, settings, clock.now(), alert_source(), version))
    return job


def _etag(query: BoardQuery, version: str, viewer: str) -> str:
    minute = extensions.clock().now().strftime("%Y%m%d%H%M")
    key = repr((version, minute, query, viewer))
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _board_context(query: BoardQuery, version: str) -> dict[str, Any]:
    settings, now = extensions.settings(), extensions.clock().now()
    with extensions.database().unit_of_work() as db:
        board = build_board_page(db, query, settings, now, alert_source(),
                                 viewer=current_user().actor, version=version,
                                 rebuild=_rebuild(query.day))
    return {"board": board, "query": query, "status": query.status, "carer": query.carer,
            "filters": FILTERS, "groups": GROUPS, "now": now, "page_size": PAGE_SIZE,
            "is_today": query.day == _today(),
            "refresh_seconds": current_app.config["OFFICE_BOARD_REFRESH_SECONDS"]}


def _version(query: BoardQuery) -> str:
    with extensions.database().unit_of_work() as db:
        return day_version(db, query.day, extensions.settings())


@blueprint.get("/")
@requires(OfficeRole.COORDINATOR)
def board() -> Any:
    """Today's visits by planned time, a page at a time, refreshed in place every few seconds."""
    query = board_query()
    version = _version(query)
    return render_template("office/board.html", etag=_etag(query, version,
                                                           current_user().actor),
                           **_board_context(query, version))


@blueprint.get("/board/live")
def board_live() -> Any:
    """The board's counts and the shown page's rows; 304 when nothing changed; 401 when the
    session ended (the page shows a banner instead of old rows)."""
    user = g.get("office_user")
    if user is None:
        response = Response("Your session has ended: log in again.", status=401,
                            mimetype="text/plain")
        response.headers["X-Office-Session"] = "ended"
        return response
    if not user.can(OfficeRole.COORDINATOR):
        return Response(role_refusal(user, OfficeRole.COORDINATOR), status=403,
                        mimetype="text/plain")
    query = board_query()
    version = _version(query)
    etag = _etag(query, version, user.actor)
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(render_template("office/_board_live.html",
                                            **_board_context(query, version)))
    response.set_etag(etag)
    return response
