"""/office/adults: the clients, one client, a printable code sheet."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    url_for,
)
from sqlalchemy import select

from ivr_gateway import extensions
from ivr_gateway.models import Adult, PlannedVisit
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.csp import content_security_policy, inline_style_hashes
from ivr_gateway.office.providers import code_source
from ivr_gateway.office.views import (
    COORDINATOR,
    _now,
    blueprint,
)


@blueprint.get("/adults")
@requires(COORDINATOR)
def adults() -> Any:
    """Clients: landlines, RAG rating, active."""
    with extensions.database().unit_of_work() as db:
        rows = list(db.scalars(select(Adult).order_by(Adult.family_name, Adult.given_name)))
        for a in rows:
            _ = a.landlines
    return render_template("office/adults.html", adults=rows)


@blueprint.get("/adults/<ref>")
@requires(COORDINATOR)
def adult(ref: str) -> Any:
    """One client: landlines, RAG, visit-code tokens and sheets, upcoming visits."""
    with extensions.database().unit_of_work() as db:
        row = db.scalar(select(Adult).where(Adult.ref == ref))
        if row is None:
            abort(404)
        _ = row.landlines
        devices = code_source().devices_for_adult(db, ref)
        visits = list(db.scalars(select(PlannedVisit).where(
            PlannedVisit.adult_id == row.id,
            PlannedVisit.planned_start >= _now() - timedelta(days=1))
            .order_by(PlannedVisit.planned_start).limit(20)))
    return render_template("office/adult.html", adult=row, devices=devices, visits=visits)


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
