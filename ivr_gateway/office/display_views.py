"""Wall-screen display links: the administrators' page (create, revoke) and the display itself.

/office/display/TOKEN shows today's board read-only (no links into visits, no actions, no
"acknowledged by me") and refreshes it like the board (office.js, an ETag, 304 when unchanged).
It needs no session, so a logout anywhere leaves it showing; a revoked link answers 410 with
`X-Office-Display: revoked`, and the page then clears its rows and says so. A token never issued
is 404, like any unknown page.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for

from ivr_gateway import extensions
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.board import FILTERS
from ivr_gateway.office.board_index import day_version
from ivr_gateway.office.board_page import GROUPS, PAGE_SIZE, BoardQuery, build_board_page
from ivr_gateway.office.board_views import _rebuild
from ivr_gateway.office.display import (
    DisplayRefused,
    create_display_link,
    find_display_link,
    list_display_links,
    revoke_display_link,
)
from ivr_gateway.office.models import DisplayLink, OfficeRole
from ivr_gateway.office.providers import alert_source
from ivr_gateway.office.reason_codes import ActionRefused
from ivr_gateway.office.views import blueprint

REVOKED = ("This display link was revoked by an administrator: the board is no longer shown "
           "here. Ask an administrator for a new link.")


def _today() -> date:
    return extensions.clock().now().astimezone(extensions.settings().tz).date()


def _sentence(problem: Exception) -> str:
    text = str(problem.args[0] if problem.args else problem)
    return f"{text[:1].upper()}{text[1:]}."


@blueprint.route("/display-links", methods=["GET", "POST"])
@requires(OfficeRole.ADMINISTRATOR)
def display_links() -> Any:
    """Wall-screen links: create one (its address shown once), list them, revoke."""
    new_url = None
    if request.method == "POST":
        try:
            with extensions.database().unit_of_work() as db:
                _link, token = create_display_link(db, request.form.get("name", ""),
                                                   now=extensions.clock().now(),
                                                   actor=current_user().actor)
            new_url = url_for("office.display", token=token, _external=True)
        except DisplayRefused as refused:
            flash(_sentence(refused), "error")
    with extensions.database().unit_of_work() as db:
        links = list_display_links(db)
    return render_template("office/display_links.html", links=links, new_url=new_url)


@blueprint.route("/display-links/<int:link_id>/revoke", methods=["GET", "POST"])
@requires(OfficeRole.ADMINISTRATOR)
def revoke_display(link_id: int) -> Any:
    """Revoke a display link: asks first (it cannot be undone); its screen stops at once."""
    back = url_for("office.display_links")
    if request.method == "GET":
        with extensions.database().unit_of_work() as db:
            link = db.get(DisplayLink, link_id)
            if link is None:
                abort(404)
            name, revoked = link.name, link.revoked_at is not None
        if revoked:
            flash(f"The display link {name} is already revoked.", "info")
            return redirect(back)
        return render_template(
            "office/confirm.html", title=f"Revoke the display link {name}?",
            message=(f"The screen showing {name} stops showing the board at its next refresh "
                     "(within seconds) and says the link was revoked. A revoked link cannot be "
                     "brought back: make a new one for the screen if it is needed again."),
            action=url_for("office.revoke_display", link_id=link_id),
            button=f"Revoke {name}", back=back)
    try:
        with extensions.database().unit_of_work() as db:
            revoke_display_link(db, link_id=link_id, now=extensions.clock().now(),
                                actor=current_user().actor)
        flash("Display link revoked.", "success")
    except (DisplayRefused, LookupError, ActionRefused) as refused:
        flash(_sentence(refused), "error")
    return redirect(back)


def _link_for(token: str) -> tuple[int, str, bool]:
    """(id, name, revoked) of the token's link; 404 for a token never issued."""
    with extensions.database().unit_of_work() as db:
        link = find_display_link(db, token)
        if link is None:
            abort(404)
        return link.id, link.name, link.revoked_at is not None


def _query() -> BoardQuery:
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    return BoardQuery(day=_today(), page=page)


def _context(token: str, name: str, viewer: str, query: BoardQuery,
             version: str) -> dict[str, Any]:
    settings, now = extensions.settings(), extensions.clock().now()
    with extensions.database().unit_of_work() as db:
        board = build_board_page(db, query, settings, now, alert_source(), viewer=viewer,
                                 version=version, rebuild=_rebuild(query.day))
    return {"board": board, "query": query, "status": "all", "carer": "", "filters": FILTERS,
            "groups": GROUPS, "now": now, "page_size": PAGE_SIZE, "read_only": True,
            "display_token": token, "display_name": name,
            "refresh_seconds": current_app.config["OFFICE_BOARD_REFRESH_SECONDS"]}


def _etag(query: BoardQuery, version: str, viewer: str) -> str:
    minute = extensions.clock().now().strftime("%Y%m%d%H%M")
    return hashlib.sha256(repr((version, minute, query, viewer)).encode()).hexdigest()[:24]


def _version(query: BoardQuery) -> str:
    with extensions.database().unit_of_work() as db:
        return day_version(db, query.day, extensions.settings())


def _no_referrer(response: Response) -> Response:
    # The token is in the address: never send it on to another page.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@blueprint.get("/display/<token>")
def display(token: str) -> Any:
    """Today's board, read-only, for a wall screen; refreshes itself; no login needed."""
    link_id, name, revoked = _link_for(token)
    if revoked:
        return _no_referrer(Response(render_template(
            "office/display.html", revoked_message=REVOKED, display_name=name), status=410))
    query, viewer = _query(), f"display-link:{link_id}"
    version = _version(query)
    return _no_referrer(Response(render_template(
        "office/display.html", etag=_etag(query, version, viewer),
        **_context(token, name, viewer, query, version))))


@blueprint.get("/display/<token>/live")
def display_live(token: str) -> Any:
    """The display's rows; 304 when nothing changed; 410 once the link is revoked."""
    link_id, name, revoked = _link_for(token)
    if revoked:
        response = Response(REVOKED, status=410, mimetype="text/plain")
        response.headers["X-Office-Display"] = "revoked"
        return _no_referrer(response)
    query, viewer = _query(), f"display-link:{link_id}"
    version = _version(query)
    etag = _etag(query, version, viewer)
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(render_template("office/_display_live.html",
                                            **_context(token, name, viewer, query, version)))
    response.set_etag(etag)
    return _no_referrer(response)
