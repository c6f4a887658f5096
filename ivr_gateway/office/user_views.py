"""/office/users: office users, their roles, passwords and lockouts (administrators)."""

from __future__ import annotations

from typing import Any

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from ivr_gateway import extensions
from ivr_gateway.office import accounts
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.models import OfficeRole
from ivr_gateway.office.reason_codes import ActionRefused
from ivr_gateway.office.views import (
    ADMINISTRATOR,
    _act,
    _now,
    _refusal,
    blueprint,
)


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
        try:
            user = accounts.read_office_user(db, username)
        except LookupError:
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
            try:
                user = accounts.read_office_user(db, username)
            except LookupError:
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
