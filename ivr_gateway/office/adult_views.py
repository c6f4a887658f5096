"""/office/adults: the clients a page at a time (search by name, number or landline), one
client, a printable code sheet."""

from __future__ import annotations

from typing import Any

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from ivr_gateway import extensions
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.csp import content_security_policy, inline_style_hashes
from ivr_gateway.office.directory import adults_page, client_record, read_query
from ivr_gateway.office.providers import code_source
from ivr_gateway.office.views import (
    COORDINATOR,
    _now,
    blueprint,
)


@blueprint.get("/adults")
@requires(COORDINATOR)
def adults() -> Any:
    """Clients, a page at a time: landlines, RAG rating, active."""
    q, page = read_query(request.args.get("q"), request.args.get("page"))
    with extensions.database().unit_of_work() as db:
        found = adults_page(db, q, page)
    return render_template("office/adults.html", found=found, adults=found.rows)


@blueprint.get("/adults/<ref>")
@requires(COORDINATOR)
def adult(ref: str) -> Any:
    """One client: landlines, RAG, visit-code tokens and sheets, upcoming visits."""
    with extensions.database().unit_of_work() as db:
        try:
            record = client_record(db, ref, _now())
        except LookupError:
            abort(404)
        devices = code_source().devices_for_adult(db, ref)
    return render_template("office/adult.html", adult=record.adult, devices=devices,
                           visits=record.upcoming)


@blueprint.post("/adults/<ref>/code-sheet")
@requires(COORDINATOR)
def print_code_sheet(ref: str) -> Any:
    """A new printable code sheet for the client (when code sheets are switched on)."""
    try:
        with extensions.database().unit_of_work() as db:
            page = code_source().code_sheet_html(db, ref, current_user().actor, _now())
    except LookupError as refused:
        flash(str(refused), "error")
        return redirect(url_for("office.adult", ref=ref))
    response = Response(page, mimetype="text/html")
    # The sheet is a self-contained document with its CSS inline: allow exactly that CSS.
    response.headers["Content-Security-Policy"] = content_security_policy(
        inline_style_hashes(page))
    return response
