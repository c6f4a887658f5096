"""/office/unmatched and /office/log-events/N/move: put evidence on the right visit.

Views are thin: parse the form, call one function of office/unmatched.py in one unit of work,
render or redirect with what happened.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from ivr_gateway import extensions
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.models import OfficeRole
from ivr_gateway.office.unmatched import (
    dismiss_unmatched,
    link_unmatched,
    load_event_to_move,
    move_one_log_event,
    unmatched_queue,
)
from ivr_gateway.office.views import blueprint
from ivr_gateway.visits.errors import ActionRefused


@blueprint.route("/log-events/<int:log_event_id>/move", methods=["GET", "POST"])
@requires(OfficeRole.COORDINATOR)
def move_log_event(log_event_id: int) -> Any:
    """Move a log event to another planned visit of the same client or carer that day."""
    if request.method == "POST":
        target, reason = request.form.get("to", ""), request.form.get("reason", "")
        try:
            with extensions.database().unit_of_work() as db:
                moved = move_one_log_event(db, log_event_id, target, reason,
                                           now=extensions.clock().now(),
                                           actor=current_user().actor)
        except ActionRefused as refused:
            flash(str(refused), "error")
            return redirect(url_for("office.move_log_event", log_event_id=log_event_id))
        flash(f"Moved from {moved.from_label} to {moved.to_planned_ref}; the original is kept, "
              "marked superseded.", "success")
        return redirect(url_for("office.visit", ref=moved.to_planned_ref))
    with extensions.database().unit_of_work() as db:
        try:
            event = load_event_to_move(db, log_event_id)
        except LookupError:
            abort(404)
    return render_template("office/move_log_event.html", event=event)


@blueprint.get("/unmatched")
@requires(OfficeRole.COORDINATOR)
def unmatched() -> Any:
    """Evidence still to place: unplanned visits, texts from unknown mobiles, unproven calls."""
    with extensions.database().unit_of_work() as db:
        items = unmatched_queue(db, extensions.clock().now())
    return render_template("office/unmatched.html", items=items)


@blueprint.post("/unmatched/<kind>/<int:item_id>/link")
@requires(OfficeRole.COORDINATOR)
def link_unmatched_item(kind: str, item_id: int) -> Any:
    """Place an item on a planned visit (its evidence moves there)."""
    try:
        with extensions.database().unit_of_work() as db:
            ref = link_unmatched(db, kind, item_id, request.form.get("to", ""),
                                 request.form.get("reason", ""), now=extensions.clock().now(),
                                 actor=current_user().actor)
        flash(f"Linked to visit {ref}.", "success")
    except ActionRefused as refused:
        flash(str(refused), "error")
    return redirect(url_for("office.unmatched"))


@blueprint.post("/unmatched/<kind>/<int:item_id>/dismiss")
@requires(OfficeRole.COORDINATOR)
def dismiss_unmatched_item(kind: str, item_id: int) -> Any:
    """Take an item off the queue with a reason."""
    try:
        with extensions.database().unit_of_work() as db:
            dismiss_unmatched(db, kind, item_id, request.form.get("reason", ""),
                              now=extensions.clock().now(), actor=current_user().actor)
        flash("Dismissed; the reason is in the audit log.", "success")
    except ActionRefused as refused:
        flash(str(refused), "error")
    return redirect(url_for("office.unmatched"))
