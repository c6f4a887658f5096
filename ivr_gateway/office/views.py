"""The dashboard's blueprint and what every page shares: the request plumbing (user, CSRF,
security headers, error pages), template filters and globals, and running one action.

The pages are in modules by page, each adding its routes to this blueprint (registered in
office/__init__.py): login_views, board_views, visit_views, alert_views, send_carer_views,
unmatched_views, adult_views, care_worker_views, user_views, token_views, kpi_views, on_call,
rota_upload, recordings. Views are thin: parse the form, call one office or rota function in
one unit of work, render.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import Forbidden

from ivr_gateway import extensions
from ivr_gateway.office import auth
from ivr_gateway.office.csp import content_security_policy
from ivr_gateway.office.models import OfficeRole
from ivr_gateway.office.reason_codes import ActionRefused
from ivr_gateway.request_guards import DAY_RANGE, day_in_range
from ivr_gateway.visits.verdicts import COUNCIL_WORDS

blueprint = Blueprint("office", __name__, url_prefix="/office", template_folder="templates",
                      static_folder="static", static_url_path="/static")

COORDINATOR, MANAGER, ADMINISTRATOR = (OfficeRole.COORDINATOR, OfficeRole.MANAGER,
                                       OfficeRole.ADMINISTRATOR)


# ------------------------------------------------------------------ request plumbing

@blueprint.before_request
def _load_user_and_check_csrf() -> Any:
    with extensions.database().unit_of_work() as db:
        g.office_user = auth.load_current_user(db)
    if request.method not in ("GET", "HEAD", "OPTIONS") and not auth.csrf_ok():
        return render_template("office/error.html", title="Form expired", message=(
            "This form has expired or did not come from the dashboard. Go back, reload the "
            "page and try again.")), 400
    if (g.office_user is not None and g.office_user.must_change_password
            and request.endpoint not in _ALLOWED_WITH_TEMPORARY_PASSWORD):
        # An administrator chose this password and knows it: nothing else until it is replaced.
        return redirect(url_for("office.change_password"))
    return None


# What a user whose password is temporary may still reach: the form to change it, and the way out.
_ALLOWED_WITH_TEMPORARY_PASSWORD = frozenset({
    "office.change_password", "office.logout", "office.login", "office.static"})


@blueprint.after_request
def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", content_security_policy())
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/office/static/"):
        response.headers["Cache-Control"] = "no-store"  # names and care details: never cached
    return response


@blueprint.errorhandler(403)
def _forbidden(error: Any) -> Any:
    user = g.get("office_user")
    message = getattr(error, "description", "") if user is not None else ""
    if not message or message == Forbidden.description:
        message = "Your role does not allow this page. Ask an administrator if you need it."
    return render_template("office/error.html", title="Not allowed", message=message), 403


@blueprint.errorhandler(404)
def _not_found(_error: Any) -> Any:
    return render_template("office/error.html", title="Not found",
                           message="There is no such page or record."), 404


@blueprint.app_template_filter("local")
def _local(at: datetime | None, fmt: str = "%H:%M") -> str:
    if at is None:
        return "–"
    return at.astimezone(extensions.settings().tz).strftime(fmt)


@blueprint.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": auth.csrf_token, "office_user": g.get("office_user"),
            "Role": OfficeRole, "council_words": COUNCIL_WORDS,
            # One setting for the reason-code deadline: the pages say what the alerts do.
            "due_hours": extensions.settings().kpi.reason_code_due_hours}


def _now() -> datetime:
    return extensions.clock().now()


def _today() -> date:
    return _now().astimezone(extensions.settings().tz).date()


def _back(default: str) -> Any:
    target = request.form.get("next", "")
    if target.startswith("/office/") and not target.startswith("//"):
        return redirect(target)
    return redirect(default)


def _parse_local(raw: str, label: str) -> datetime | None:
    """A datetime-local field (YYYY-MM-DDTHH:MM, local time) as UTC; ActionRefused if unreal."""
    raw = raw.strip()
    if not raw:
        return None
    tz = extensions.settings().tz
    try:
        naive = datetime.fromisoformat(raw)
    except ValueError:
        raise ActionRefused(f"The {label} is not a date and time (e.g. 2026-03-29T09:30).") \
            from None
    if not day_in_range(naive):
        raise ActionRefused(f"The {label} must be on a day {DAY_RANGE}.")
    at = naive.replace(tzinfo=tz).astimezone(UTC)
    # In the spring gap (clocks forward) the wall time never happened: say so, don't guess.
    if at.astimezone(tz).replace(tzinfo=None) != naive:
        raise ActionRefused(f"The {label} does not exist on that day: the clocks went forward "
                            "an hour then.")
    return at



def _act(action: Any, success: str | Callable[[], str], default: str,
         keep: str | None = None) -> Any:
    """Run one action in a unit of work; on refusal say why and, if `keep` names the form,
    keep what was typed for the page it goes back to (office/kept_forms.py)."""
    try:
        with extensions.database().unit_of_work() as db:
            action(db)
        flash(success if isinstance(success, str) else success(), "success")
    except (ActionRefused, LookupError) as refused:
        flash(str(refused.args[0] if refused.args else refused), "error")
        if keep is not None:
            from ivr_gateway.office.kept_forms import keep_form
            keep_form(keep)
    return _back(default)



def _refusal(problem: Exception) -> ActionRefused:
    """A service's refusal ('the password must ...') as a sentence for the page."""
    text = str(problem)
    return ActionRefused(f"{text[:1].upper()}{text[1:]}.")

