"""/office/: login, the live board, the visit page, actions, people and things, KPIs.

Views are thin: parse the form, call one office or rota function in one unit of work, render.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy import select

from ivr_gateway import extensions
from ivr_gateway.api import tokens as token_service
from ivr_gateway.api.models import ApiToken
from ivr_gateway.ecc.kpi import MIX, KpiReport, build_kpi_report
from ivr_gateway.ecc.kpi_report import kpi_charts, kpi_html, summary_csv, visits_csv
from ivr_gateway.models import Adult, CareWorker, PlannedVisit
from ivr_gateway.office import accounts, auth
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.corrections import mark_exception_checked
from ivr_gateway.office.csp import content_security_policy, inline_style_hashes
from ivr_gateway.office.evidence import load_visit_record
from ivr_gateway.office.models import OfficeRole, OfficeUser
from ivr_gateway.office.providers import alert_source, code_source
from ivr_gateway.office.reason_codes import ActionRefused, reasons_outstanding
from ivr_gateway.office.visit_actions import visit_call
from ivr_gateway.request_guards import DAY_RANGE, day_in_range, is_safe_office_target
from ivr_gateway.rota import service as rota
from ivr_gateway.rota.schemas import CareWorkerIn, validation_context
from ivr_gateway.visits.corrections import correct_visit_times
from ivr_gateway.visits.reason_codes import reason_code_choices, reason_kind, record_reason_code
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
def _forbidden(_error: Any) -> Any:
    return render_template("office/error.html", title="Not allowed", message=(
        "Your role does not allow this page. Ask an administrator if you need it.")), 403


@blueprint.errorhandler(404)
def _not_found(_error: Any) -> Any:
    return render_template("office/error.html", title="Not found",
                           message="There is no such page or record."), 404


@blueprint.app_template_filter("local")
def _local(at: datetime | None, fmt: str = "%H:%M") -> str:
    if at is None:
        return "–"
    return at.astimezone(extensions.settings().tz).strftime(fmt)


@blueprint.app_template_filter("audit_detail")
def _audit_detail(detail: dict[str, Any]) -> list[str]:
    """An audit entry's detail as short lines: changes as 'old → new', times in local time."""
    def show(value: Any) -> str:
        if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
            try:
                return _local(datetime.fromisoformat(value), "%-d %b %H:%M")
            except ValueError:
                return value
        if isinstance(value, list) and len(value) == 2 and not isinstance(value[0], dict):
            return f"{show(value[0])} → {show(value[1])}"
        if isinstance(value, dict):
            return "; ".join(f"{k}: {show(v)}" for k, v in value.items())
        return "–" if value is None else str(value)

    lines = []
    before, after = detail.get("before"), detail.get("after")
    if isinstance(before, dict) and isinstance(after, dict):
        lines += [f"{key.replace('_', '-')}: {show(before.get(key))} → {show(value)}"
                  for key, value in after.items() if before.get(key) != value]
    lines += [f"{key.replace('_', ' ')}: {show(value)}" for key, value in detail.items()
              if key not in ("before", "after")]
    return lines


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


# ------------------------------------------------------------------ login

@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form; on success a fresh session and the board (or the page asked for)."""
    error = None
    username = ""
    target = request.values.get("next", "")
    if not is_safe_office_target(target):
        target = url_for("office.board")
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        # The refusal is caught inside the unit of work so the failure count is committed.
        with extensions.database().unit_of_work() as db:
            try:
                user = auth.authenticate(db, username, password, _now(),
                                         extensions.settings().tz,
                                         source=request.remote_addr or "unknown")
                auth.start_session(user)
            except auth.LoginRefused as refused:
                error = str(refused)
        if error is None:
            return redirect(target)
    elif g.office_user is not None:
        return redirect(target)
    return render_template("office/login.html", error=error, username=username,
                           next=target), 401 if error else 200


@blueprint.post("/logout")
def logout() -> Any:
    """End the session here and on every other device of this user."""
    user = g.get("office_user")
    if user is not None:
        with extensions.database().unit_of_work() as db:
            row = db.get(OfficeUser, user.id)
            if row is not None:
                row.session_epoch += 1
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("office.login"))


@blueprint.route("/password", methods=["GET", "POST"])
@requires(COORDINATOR)
def change_password() -> Any:
    """Change your own password (current one, new one twice); your other sessions end."""
    if request.method == "POST":
        current = request.form.get("current_password", "")
        new, again = request.form.get("password", ""), request.form.get("password_again", "")
        try:
            if new != again:
                raise ActionRefused("The two new passwords differ; type the same password twice.")
            with extensions.database().unit_of_work() as db:
                user = accounts.change_own_password(db, current_user().id, current, new,
                                                    now=_now())
                epoch = user.session_epoch
        except ActionRefused as refused:
            flash(str(refused), "error")
        except (ValueError, LookupError) as problem:
            flash(str(_refusal(problem)), "error")
        else:
            # Every other session of this user ended with the new epoch; this one carries on.
            session["office_epoch"] = epoch
            flash("Password changed. You are logged out on any other device.", "success")
            return redirect(url_for("office.board"))
        return redirect(url_for("office.change_password"))
    return render_template("office/password.html")


# ------------------------------------------------------------------ the board
# The board and its live refresh are in board_views.py.


# ------------------------------------------------------------------ the visit page

def _visit_page(planned_ref: str | None = None, actual_id: int | None = None) -> Any:
    settings = extensions.settings()
    with extensions.database().unit_of_work() as db:
        try:
            record = load_visit_record(db, settings, _now(), planned_ref=planned_ref,
                                       actual_visit_id=actual_id)
        except LookupError:
            abort(404)
        refs = [record.planned.ref] if record.planned else []
        alerts = alert_source().alerts_for_visits(db, refs).get(refs[0], []) if refs else []
        choices = reason_code_choices(db, reason_kind(record.summary) if record.summary else None)
        carers = list(db.scalars(select(CareWorker).where(CareWorker.active.is_(True))
                                 .order_by(CareWorker.given_name, CareWorker.family_name)))
        on_visit = list(record.planned.care_workers) if record.planned else \
            [a.care_worker for a in record.actuals]
        call = visit_call(db, record, alerts)
    return render_template("office/visit.html", record=record, alerts=alerts,
                           choices=choices, call=call,
                           carers=carers, on_visit=on_visit, now=_now())


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


# ------------------------------------------------------------------ people and things

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


@blueprint.get("/care-workers")
@requires(COORDINATOR)
def care_workers() -> Any:
    """Carers: staff number, mobiles, language, lockouts."""
    with extensions.database().unit_of_work() as db:
        rows = list(db.scalars(select(CareWorker).order_by(CareWorker.family_name,
                                                           CareWorker.given_name)))
        for c in rows:
            _ = c.mobiles
    return render_template("office/care_workers.html", care_workers=rows, now=_now())


@blueprint.get("/care-workers/<ref>")
@requires(COORDINATOR)
def care_worker(ref: str) -> Any:
    """One carer: unlock, reset PIN, mobiles and language."""
    with extensions.database().unit_of_work() as db:
        row = db.scalar(select(CareWorker).where(CareWorker.ref == ref))
        if row is None:
            abort(404)
        _ = row.mobiles
    return render_template("office/care_worker.html", carer=row, now=_now())


@blueprint.post("/care-workers/<ref>/unlock")
@requires(COORDINATOR)
def unlock_care_worker(ref: str) -> Any:
    """Lift a carer's PIN lockout."""
    def action(db: Any) -> None:
        try:
            rota.unlock_care_worker(db, ref, now=_now(), actor=current_user().actor)
        except rota.RotaError as error:
            raise ActionRefused(error.message) from None
    return _act(action, "Carer unlocked: they can log in again now.",
                url_for("office.care_worker", ref=ref))


@blueprint.post("/care-workers/<ref>/pin")
@requires(MANAGER)
def reset_pin(ref: str) -> Any:
    """Set a new PIN for a carer (typed twice; never shown again)."""
    pin, again = request.form.get("pin", ""), request.form.get("pin_again", "")

    def action(db: Any) -> None:
        if pin != again:
            raise ActionRefused("The two PINs differ; type the same PIN twice.")
        carer = db.scalar(select(CareWorker).where(CareWorker.ref == ref))
        if carer is None:
            raise ActionRefused("There is no such carer.")
        try:
            rota.set_care_worker_pin(db, carer.staff_number, pin,
                                     settings=extensions.settings(), now=_now(),
                                     actor=current_user().actor)
        except rota.RotaError as error:
            raise ActionRefused(error.message) from None
    return _act(action, "New PIN set. Tell the carer in person or by phone, never by text.",
                url_for("office.care_worker", ref=ref))


@blueprint.post("/care-workers/<ref>/details")
@requires(MANAGER)
def update_care_worker(ref: str) -> Any:
    """Change a carer's mobiles and prompt language (through the rota service, audited)."""
    def action(db: Any) -> None:
        carer = db.scalar(select(CareWorker).where(CareWorker.ref == ref))
        if carer is None:
            raise ActionRefused("There is no such carer.")
        mobiles = [m.strip() for m in request.form.get("mobiles", "").replace(",", "\n")
                   .splitlines() if m.strip()]
        try:
            data = CareWorkerIn.model_validate({
                "staff_number": carer.staff_number, "given_name": carer.given_name,
                "family_name": carer.family_name, "mobiles": mobiles,
                "language": request.form.get("language", carer.language),
                "branch": carer.branch, "active": carer.active,
            }, context=validation_context(extensions.settings()))
            rota.upsert_care_worker(db, ref, data, settings=extensions.settings(), now=_now(),
                                    actor=current_user().actor)
        except ValidationError as error:
            raise ActionRefused("; ".join(f"{p.field}: {p.message}"
                                          for p in rota.problems_from(error))) from None
        except rota.RotaError as error:
            raise ActionRefused(error.message) from None
    return _act(action, "Carer details saved.", url_for("office.care_worker", ref=ref))


@blueprint.route("/api-tokens", methods=["GET", "POST"])
@requires(ADMINISTRATOR)
def api_tokens() -> Any:
    """Bearer tokens for rostering systems: create (shown once), list, revoke."""
    new_token = None
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        try:
            with extensions.database().unit_of_work() as db:
                _token, new_token = token_service.create_api_token(
                    db, name, now=_now(), actor=current_user().actor)
        except token_service.TokenRefused as refused:
            flash(str(_refusal(refused)), "error")
    with extensions.database().unit_of_work() as db:
        tokens = token_service.list_api_tokens(db)
    return render_template("office/api_tokens.html", tokens=tokens, new_token=new_token)


@blueprint.route("/api-tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@requires(ADMINISTRATOR)
def revoke_api_token(token_id: int) -> Any:
    """Revoke a token: asks first (it cannot be undone), then requests with it are refused."""
    if request.method == "GET":
        with extensions.database().unit_of_work() as db:
            token = db.get(ApiToken, token_id)
            if token is None:
                abort(404)
            name, revoked = token.name, token.revoked_at is not None
        if revoked:
            flash(f"The token {name} is already revoked.", "info")
            return redirect(url_for("office.api_tokens"))
        return render_template(
            "office/confirm.html", title=f"Revoke the token {name}?",
            message=(f"Requests with the token {name} are refused from the moment you revoke "
                     "it, so the rostering system that uses it stops sending the rota until it "
                     "is given a new token. A revoked token cannot be brought back."),
            action=url_for("office.revoke_api_token", token_id=token_id),
            button=f"Revoke {name}", back=url_for("office.api_tokens"))

    def action(db: Any) -> None:
        try:
            token_service.revoke_api_token(db, token_id=token_id, now=_now(),
                                           actor=current_user().actor)
        except (token_service.TokenRefused, LookupError) as refused:
            raise _refusal(refused) from None
    return _act(action, "Token revoked.", url_for("office.api_tokens"))


# ------------------------------------------------------------------ office users

def _refusal(problem: Exception) -> ActionRefused:
    """A service's refusal ('the password must ...') as a sentence for the page."""
    text = str(problem)
    return ActionRefused(f"{text[:1].upper()}{text[1:]}.")


def _role_from_form() -> OfficeRole:
    try:
        return OfficeRole(request.form.get("role", ""))
    except ValueError:
        raise ActionRefused("Choose a role: coordinator, manager or administrator.") from None


@blueprint.route("/users", methods=["GET", "POST"])
@requires(ADMINISTRATOR)
def office_users() -> Any:
    """Office users: list them, and add one with a temporary password."""
    if request.method == "POST":
        username = request.form.get("username", "")
        password = request.form.get("password", "")

        def action(db: Any) -> None:
            try:
                accounts.create_office_user(
                    db, username, password, _role_from_form(), now=_now(),
                    actor=current_user().actor,
                    display_name=request.form.get("display_name", "").strip())
            except ValueError as problem:
                raise _refusal(problem) from None
        return _act(action, f"Office user {username.strip().lower()} added. Give them the "
                            "password in person or by phone, never by email or text.",
                    url_for("office.office_users"), keep="add_user")
    with extensions.database().unit_of_work() as db:
        users = accounts.list_office_users(db)
    return render_template("office/users.html", users=users, now=_now())


@blueprint.get("/users/<username>")
@requires(ADMINISTRATOR)
def office_user(username: str) -> Any:
    """One office user: change role, deactivate or reactivate, reset password, unlock."""
    with extensions.database().unit_of_work() as db:
        user = db.scalar(select(OfficeUser).where(OfficeUser.username == username))
        if user is None:
            abort(404)
        last_administrator = accounts.is_last_active_administrator(db, user)
    is_self = user.username == current_user().username
    return render_template("office/user.html", user=user, is_self=is_self,
                           last_administrator=last_administrator, now=_now())


def _user_action(username: str, change: Any, success: str) -> Any:
    """Run one change to an office user; the service's refusal is shown on the page."""
    def action(db: Any) -> None:
        try:
            change(db)
        except ValueError as problem:
            raise _refusal(problem) from None
    return _act(action, success, url_for("office.office_user", username=username))


@blueprint.post("/users/<username>/role")
@requires(ADMINISTRATOR)
def change_office_user_role(username: str) -> Any:
    """Give an office user another role (a demotion logs them out everywhere)."""
    return _user_action(username, lambda db: accounts.change_office_user_role(
        db, username, _role_from_form(), now=_now(), actor=current_user().actor,
        acting_username=current_user().username), "Role changed.")


@blueprint.route("/users/<username>/deactivate", methods=["GET", "POST"])
@requires(ADMINISTRATOR)
def deactivate_office_user(username: str) -> Any:
    """Stop an office user logging in: asks first, then they are logged out everywhere."""
    if request.method == "GET":
        with extensions.database().unit_of_work() as db:
            user = db.scalar(select(OfficeUser).where(OfficeUser.username == username))
            if user is None:
                abort(404)
            name, active = user.display_name or user.username, user.active
        if not active:
            flash(f"{name} is already deactivated.", "info")
            return redirect(url_for("office.office_user", username=username))
        return render_template(
            "office/confirm.html", title=f"Deactivate {name}?",
            message=(f"{name} ({username}) is logged out at once on every device and cannot "
                     "log in. Their history is kept; you can reactivate them later."),
            action=url_for("office.deactivate_office_user", username=username),
            button=f"Deactivate {username}",
            back=url_for("office.office_user", username=username))
    return _user_action(username, lambda db: accounts.deactivate_office_user(
        db, username, now=_now(), actor=current_user().actor,
        acting_username=current_user().username),
        "Deactivated: they are logged out and cannot log in.")


@blueprint.post("/users/<username>/reactivate")
@requires(ADMINISTRATOR)
def reactivate_office_user(username: str) -> Any:
    """Let a deactivated office user log in again."""
    return _user_action(username, lambda db: accounts.reactivate_office_user(
        db, username, now=_now(), actor=current_user().actor),
        "Reactivated: they can log in again with their password.")


@blueprint.post("/users/<username>/password")
@requires(ADMINISTRATOR)
def reset_office_user_password(username: str) -> Any:
    """Set a new temporary password (typed twice); the user is logged out everywhere."""
    password, again = request.form.get("password", ""), request.form.get("password_again", "")

    def change(db: Any) -> None:
        if password != again:
            raise ActionRefused("The two passwords differ; type the same password twice.")
        accounts.reset_office_user_password(db, username, password, now=_now(),
                                            actor=current_user().actor)
    return _user_action(username, change, "New password set. Give it to them in person or by "
                                          "phone, never by email or text.")


@blueprint.post("/users/<username>/unlock")
@requires(ADMINISTRATOR)
def unlock_office_user(username: str) -> Any:
    """Lift a login lockout after wrong passwords."""
    def change(db: Any) -> None:
        if not accounts.unlock_office_user(db, username, now=_now(),
                                           actor=current_user().actor):
            raise ActionRefused(f"{username} was not locked.")
    return _user_action(username, change, "Unlocked: they can try their password again now.")


# ------------------------------------------------------------------ KPIs

KPI_MAX_DAYS = 62


def _kpi_range() -> tuple[date, date]:
    today = _today()
    try:
        last = date.fromisoformat(request.args["to"]) if request.args.get("to") else today
        first = (date.fromisoformat(request.args["from"]) if request.args.get("from")
                 else last - timedelta(days=6))
    except ValueError:
        raise ActionRefused("Dates are YYYY-MM-DD.") from None
    if not (day_in_range(first) and day_in_range(last)):
        raise ActionRefused(f"Choose days {DAY_RANGE}.")
    if last < first:
        raise ActionRefused("The 'to' date is before the 'from' date.")
    if (last - first).days >= KPI_MAX_DAYS:
        raise ActionRefused(f"Choose at most {KPI_MAX_DAYS} days; for longer, run "
                            "`ivr-gateway report kpi`.")
    return first, last


def _kpi_report(first: date, last: date) -> KpiReport:
    with extensions.database().unit_of_work() as db:
        return build_kpi_report(db, first, last, extensions.settings(), _now())


@blueprint.get("/kpi")
@requires(COORDINATOR)
def kpi() -> Any:
    """The council's KPI report for a range of days: the same figures and charts as the file."""
    try:
        first, last = _kpi_range()
        report: KpiReport | None = _kpi_report(first, last)
        error = None
    except ActionRefused as refused:
        first, last, report, error = _today() - timedelta(days=6), _today(), None, str(refused)
    charts = [Markup(svg) for svg in kpi_charts(report)] if report else []  # noqa: S704 - our SVG
    return render_template("office/kpi.html", report=report, charts=charts, first=first,
                           last=last, error=error, mix=MIX)


@blueprint.get("/kpi/<kind>.<ext>")
@requires(COORDINATOR)
def kpi_download(kind: str, ext: str) -> Any:
    """The KPI report as the self-contained HTML page, or its CSV files, to keep or send."""
    if (kind, ext) not in {("report", "html"), ("visits", "csv"), ("summary", "csv")}:
        abort(404)
    try:
        first, last = _kpi_range()
    except ActionRefused as refused:
        flash(str(refused), "error")
        return redirect(url_for("office.kpi"))
    report = _kpi_report(first, last)
    body = {"report": kpi_html, "visits": visits_csv, "summary": summary_csv}[kind](report)
    name = f"kpi-{kind}-{first}_{last}.{ext}"
    response = Response(body, mimetype="text/html" if ext == "html" else "text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
