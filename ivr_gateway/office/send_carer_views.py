"""/office/visits/REF/reassign: send another carer, with a confirmation step and a clash warning.

The visit page's form posts here without `confirm`: the page that comes back says what will
happen (the texts, a clash with the newcomer's other visits, who has no mobile) and changes
nothing. Its button posts again with `confirm=yes` (and the clashes it showed, accepted).
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from ivr_gateway import extensions
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.models import OfficeRole
from ivr_gateway.office.reassignment import (
    ClashNotAccepted,
    ReassignmentPlan,
    plan_reassignment,
    reassign_care_worker,
)
from ivr_gateway.office.views import blueprint
from ivr_gateway.visits.errors import ActionRefused


def _confirm_page(plan: ReassignmentPlan, status: int = 200) -> Any:
    return render_template("office/reassign_confirm.html", plan=plan), status


@blueprint.post("/visits/<ref>/reassign")
@requires(OfficeRole.COORDINATOR)
def reassign(ref: str) -> Any:
    """Send another carer in one carer's place: first what will happen, then, confirmed, do it."""
    form = request.form
    from_ref, to_ref, reason = form.get("from", ""), form.get("to", ""), form.get("reason", "")
    settings, now = extensions.settings(), extensions.clock().now()
    try:
        with extensions.database().unit_of_work() as db:
            if form.get("confirm") != "yes":
                return _confirm_page(plan_reassignment(db, ref, from_ref, to_ref, reason,
                                                       settings=settings, now=now))
            accepted = frozenset(r for r in form.getlist("accept_clash") if r)
            plan = reassign_care_worker(db, ref, from_ref, to_ref, reason, settings=settings,
                                        now=now, actor=current_user().actor,
                                        accepted_clashes=accepted)
    except ClashNotAccepted as unseen:  # booked since the page was shown: show it again
        return _confirm_page(unseen.plan, 409)
    except ActionRefused as refused:
        flash(str(refused), "error")
        return redirect(url_for("office.visit", ref=ref))
    texted = [t.name for t in plan.texts if t.to]
    flash(f"{plan.to_name} is sent instead of {plan.from_name}."
          + (f" Texted: {', '.join(texted)}." if texted else ""), "success")
    for text in plan.unreachable:
        flash(f"{text.name} has no mobile on file: ring them.", "error")
    return redirect(url_for("office.visit", ref=ref))
