"""/office/login, /office/logout, /office/password: who is at the dashboard."""

from __future__ import annotations

from typing import Any

from flask import (
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from ivr_gateway import extensions
from ivr_gateway.office import accounts, auth
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.reason_codes import ActionRefused
from ivr_gateway.office.views import (
    COORDINATOR,
    _now,
    _refusal,
    blueprint,
)
from ivr_gateway.request_guards import is_safe_office_target


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
            accounts.end_every_session(db, user.id)
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
