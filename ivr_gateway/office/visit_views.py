"""/office/visits/REF and /office/unplanned/N: the evidence page of one visit, and its
reason-code, correction and exception actions."""

from __future__ import annotations

from typing import Any

from flask import (
    abort,
    render_template,
    request,
    url_for,
)

from ivr_gateway import extensions
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.corrections import mark_exception_checked
from ivr_gateway.office.providers import alert_source
from ivr_gateway.office.views import (
    COORDINATOR,
    _act,
    _now,
    _parse_local,
    blueprint,
)
from ivr_gateway.office.visit_page import load_visit_page
from ivr_gateway.visits.corrections import correct_visit_times
from ivr_gateway.visits.reason_codes import record_reason_code


def _visit_page(planned_ref: str | None = None, actual_id: int | None = None) -> Any:
    with extensions.database().unit_of_work() as db:
        try:
            page = load_visit_page(db, extensions.settings(), _now(), alert_source(),
                                   planned_ref=planned_ref, actual_visit_id=actual_id)
        except LookupError:
            abort(404)
    return render_template("office/visit.html", record=page.record, alerts=page.alerts,
                           choices=page.choices, call=page.call, carers=page.carers,
                           on_visit=page.on_visit, now=_now())


@blueprint.get("/visits/<ref>")
@requires(COORDINATOR)
def visit(ref: str) -> Any:
    """A planned visit: its evidence timeline, decision, alerts, concern, audit and actions."""
    return _visit_page(planned_ref=ref)


@blueprint.get("/unplanned/<int:actual_id>")
@requires(COORDINATOR)
def unplanned_visit(actual_id: int) -> Any:
    """An unplanned visit (no rota entry): its evidence and actions."""
    return _visit_page(actual_id=actual_id)


@blueprint.post("/visits/<ref>/reason")
@requires(COORDINATOR)
def record_reason(ref: str) -> Any:
    """Record the reason code for a missed or cancelled visit."""
    code, note = request.form.get("code", ""), request.form.get("note", "")
    return _act(lambda db: record_reason_code(
        db, ref, code, note, settings=extensions.settings(), now=_now(),
        actor=current_user().actor), "Reason code recorded.", url_for("office.visit", ref=ref),
        keep="reason")


def _correct(planned_ref: str | None, actual_id: int | None, default: str) -> Any:
    def action(db: Any) -> None:
        correct_visit_times(
            db, care_worker_ref=request.form.get("care_worker", ""),
            log_in=_parse_local(request.form.get("log_in", ""), "log-in time"),
            log_out=_parse_local(request.form.get("log_out", ""), "log-out time"),
            reason=request.form.get("reason", ""), now=_now(), actor=current_user().actor,
            planned_ref=planned_ref, actual_visit_id=actual_id)
    return _act(action, "Correction recorded as new evidence.", default, keep="correct")


@blueprint.post("/visits/<ref>/correct")
@requires(COORDINATOR)
def correct_visit(ref: str) -> Any:
    """Set or fix a carer's log-in or log-out time, with a reason (new evidence)."""
    return _correct(ref, None, url_for("office.visit", ref=ref))


@blueprint.post("/unplanned/<int:actual_id>/correct")
@requires(COORDINATOR)
def correct_unplanned(actual_id: int) -> Any:
    """Set or fix the times of an unplanned visit, with a reason."""
    return _correct(None, actual_id, url_for("office.unplanned_visit", actual_id=actual_id))


@blueprint.post("/exceptions/<int:exception_id>/check")
@requires(COORDINATOR)
def check_exception(exception_id: int) -> Any:
    """Mark an exception (e.g. an unverified log-in) as checked by this user."""
    return _act(lambda db: mark_exception_checked(
        db, exception_id, request.form.get("note", ""), now=_now(),
        actor=current_user().actor), "Marked as checked.", url_for("office.board"))
