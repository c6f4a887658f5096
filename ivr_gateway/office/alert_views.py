"""/office/alerts and /office/reasons: the open alerts to acknowledge, the reason codes due."""

from __future__ import annotations

from typing import Any

from flask import (
    render_template,
    request,
    url_for,
)

from ivr_gateway import extensions
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.providers import alert_source
from ivr_gateway.office.reason_codes import reasons_outstanding
from ivr_gateway.office.views import (
    COORDINATOR,
    _act,
    _now,
    _today,
    blueprint,
)


@blueprint.post("/alerts/<int:alert_id>/acknowledge")
@requires(COORDINATOR)
def acknowledge_alert(alert_id: int) -> Any:
    """Acknowledge an alert, with an optional note of what was done: it stops climbing."""
    note = request.form.get("note", "").strip() or None

    taken: list[int] = []

    def action(db: Any) -> None:  # the alert source audits it (escalation/acknowledgement.py)
        taken.append(alert_source().acknowledge(db, alert_id, current_user().actor, _now(),
                                                note=note).number)
    # The number the texts gave ("Reply ACK 4821"), not the row id: one number everywhere.
    return _act(action, lambda: f"Alert {taken[0]} acknowledged.", url_for("office.alerts"))


@blueprint.get("/alerts")
@requires(COORDINATOR)
def alerts() -> Any:
    """Open alerts today, and today's acknowledged ones that no visit page shows."""
    with extensions.database().unit_of_work() as db:
        items = alert_source().open_alerts(db, _today())
        acknowledged = alert_source().acknowledged_without_visit(db, _today())
    return render_template("office/alerts.html", alerts=items, acknowledged=acknowledged)


@blueprint.get("/reasons")
@requires(COORDINATOR)
def reasons() -> Any:
    """Missed and cancelled visits waiting for a reason code: overdue first, with countdowns."""
    with extensions.database().unit_of_work() as db:
        waiting = reasons_outstanding(db, extensions.settings(), _now())
    now = _now()
    return render_template("office/reasons.html", now=now,
                           overdue=[r for r in waiting if r.overdue(now)],
                           due=[r for r in waiting if not r.overdue(now)])
