"""/office/on-call: who the alert ladder reaches and when; managers add, edit and deactivate
alert contacts and add or remove on-call periods (coordinators read).

The rules (valid UK mobile, one contact per mobile, periods at most 14 days, the audit) are the
escalation service's (ivr_gateway/escalation/contacts.py), the same as the API's and the CLI's.
One-way actions (deactivate a contact, remove a period) show a confirmation page first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import abort, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ivr_gateway import extensions
from ivr_gateway.escalation import contacts as contact_service
from ivr_gateway.escalation.models import ContactRole, OfficeContact, OnCallPeriod
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.models import OfficeUser
from ivr_gateway.office.reason_codes import ActionRefused
from ivr_gateway.office.views import COORDINATOR, MANAGER, _act, _now, _parse_local, blueprint
from ivr_gateway.phones import national_format

ROLE_WORDS = {ContactRole.COORDINATOR: "Coordinator (office hours)",
              ContactRole.ON_CALL: "On call (when a period covers the time)",
              ContactRole.MANAGER: "Manager (top of the ladder)"}


def _form_user_id() -> int | None:
    raw = request.form.get("office_user_id", "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ActionRefused("Choose an office user from the list, or none.") from None


def office_user_names(db: Session) -> dict[int, str]:
    """Office users a contact may be linked to: id -> 'Display Name (username)', active first.

    The link is the dashboard's business (the escalation package knows contacts, not logins).
    """
    users = db.scalars(select(OfficeUser).order_by(OfficeUser.active.desc(),
                                                   OfficeUser.username))
    return {u.id: f"{u.display_name or u.username} ({u.username})"
            + ("" if u.active else ", deactivated") for u in users}


def _checked_user_id(db: Session) -> int | None:
    user_id = _form_user_id()
    if user_id is not None and db.get(OfficeUser, user_id) is None:
        raise ActionRefused(f"No office user {user_id}: choose one from the list, or none.")
    return user_id


def _refused(error: contact_service.ContactError) -> ActionRefused:
    return ActionRefused(error.message)


def _contact_form_values(db: Session) -> dict[str, Any]:
    return {"name": request.form.get("name", ""), "role": request.form.get("role", ""),
            "mobile": request.form.get("mobile", ""), "office_user_id": _checked_user_id(db)}


@blueprint.get("/on-call")
@requires(COORDINATOR)
def on_call() -> Any:
    """Who is on call this week, and the alert contacts; managers' forms to change them."""
    now = _now()
    with extensions.database().unit_of_work() as db:
        periods = contact_service.on_call_periods(db, now - timedelta(days=1),
                                                  now + timedelta(days=7))
        for period in periods:
            _ = period.contact
        contacts = contact_service.list_contacts(db)
        users = office_user_names(db)
    return render_template("office/on_call.html", periods=periods, contacts=contacts,
                           users=users, roles=ROLE_WORDS, now=now,
                           active_contacts=[c for c in contacts if c.active])


@blueprint.post("/on-call/contacts")
@requires(MANAGER)
def add_contact() -> Any:
    """Add an alert contact (mobile stored in E.164, linked to an office user if chosen)."""
    def action(db: Session) -> None:
        try:
            contact_service.add_contact(db, **_contact_form_values(db), now=_now(),
                                        actor=current_user().actor)
        except contact_service.ContactError as error:
            raise _refused(error) from None
    return _act(action, f"Contact {' '.join(request.form.get('name', '').split())} added.",
                url_for("office.on_call"), keep="add_contact")


def _contact(db: Session, contact_id: int) -> OfficeContact:
    contact = db.get(OfficeContact, contact_id)
    if contact is None:
        abort(404)
    return contact


@blueprint.get("/on-call/contacts/<int:contact_id>")
@requires(MANAGER)
def contact(contact_id: int) -> Any:
    """Edit one alert contact: name, role, mobile, linked office user; deactivate or reactivate."""
    with extensions.database().unit_of_work() as db:
        row = _contact(db, contact_id)
        users = office_user_names(db)
        db.expunge(row)
    return render_template("office/contact.html", contact=row, users=users, roles=ROLE_WORDS)


@blueprint.post("/on-call/contacts/<int:contact_id>")
@requires(MANAGER)
def update_contact(contact_id: int) -> Any:
    """Save a contact's changes (audited with before and after)."""
    def action(db: Session) -> None:
        try:
            contact_service.update_contact(db, contact_id, **_contact_form_values(db),
                                           now=_now(), actor=current_user().actor)
        except contact_service.ContactError as error:
            raise _refused(error) from None
    return _act(action, "Contact saved.", url_for("office.contact", contact_id=contact_id),
                keep=f"contact-{contact_id}")


@blueprint.route("/on-call/contacts/<int:contact_id>/deactivate", methods=["GET", "POST"])
@requires(MANAGER)
def deactivate_contact(contact_id: int) -> Any:
    """Take a contact off the alert ladder: asks first, then does it (audited)."""
    if request.method == "GET":
        with extensions.database().unit_of_work() as db:
            row = _contact(db, contact_id)
            name, mobile = row.name, row.mobile
        return render_template(
            "office/confirm.html", title=f"Deactivate {name}?",
            message=(f"{name} ({national_format(mobile)}) will get no more alerts, and their texts "
                     "(ACK) will not be recognised. Their history is kept; you can reactivate "
                     "them later."),
            action=url_for("office.deactivate_contact", contact_id=contact_id),
            button=f"Deactivate {name}", back=url_for("office.contact", contact_id=contact_id))
    return _act(_set_active(contact_id, False),
                "Contact deactivated: the ladder no longer reaches them.",
                url_for("office.on_call"))


@blueprint.post("/on-call/contacts/<int:contact_id>/reactivate")
@requires(MANAGER)
def reactivate_contact(contact_id: int) -> Any:
    """Put a deactivated contact back on the ladder (audited)."""
    return _act(_set_active(contact_id, True), "Contact reactivated.",
                url_for("office.contact", contact_id=contact_id))


def _set_active(contact_id: int, active: bool) -> Callable[[Session], None]:
    def action(db: Session) -> None:
        try:
            contact_service.set_contact_active(db, contact_id, active, _now(),
                                               current_user().actor)
        except contact_service.ContactError as error:
            raise _refused(error) from None
    return action


@blueprint.post("/on-call/periods")
@requires(MANAGER)
def add_on_call() -> Any:
    """Put a contact on call from one local date and time to another (stored in UTC)."""
    def action(db: Session) -> None:
        starts_at = _parse_local(request.form.get("starts_at", ""), "start")
        ends_at = _parse_local(request.form.get("ends_at", ""), "end")
        if starts_at is None or ends_at is None:
            raise ActionRefused("Give the start and the end of the on-call period.")
        try:
            contact_id = int(request.form.get("contact_id", ""))
        except ValueError:
            raise ActionRefused("Choose who is on call.") from None
        try:
            contact_service.add_on_call(db, contact_id=contact_id, starts_at=starts_at,
                                        ends_at=ends_at, now=_now(), actor=current_user().actor)
        except contact_service.ContactError as error:
            raise _refused(error) from None
    return _act(action, "On-call period added.", url_for("office.on_call"))


@blueprint.route("/on-call/periods/<int:period_id>/remove", methods=["GET", "POST"])
@requires(MANAGER)
def remove_on_call(period_id: int) -> Any:
    """Remove an on-call period: asks first, then does it (audited)."""
    if request.method == "GET":
        with extensions.database().unit_of_work() as db:
            period = db.get(OnCallPeriod, period_id, options=[selectinload(OnCallPeriod.contact)])
            if period is None:
                abort(404)
            tz = extensions.settings().tz
            span = (f"{period.starts_at.astimezone(tz):%a %-d %b %H:%M} to "
                    f"{period.ends_at.astimezone(tz):%a %-d %b %H:%M}")
            name = period.contact.name
        return render_template(
            "office/confirm.html", title=f"Remove {name}'s on-call period?",
            message=(f"{name} will no longer be on call from {span}. If nobody else is, alerts "
                     "in that time go to the manager."),
            action=url_for("office.remove_on_call", period_id=period_id),
            button="Remove the period", back=url_for("office.on_call"))

    def action(db: Session) -> None:
        try:
            contact_service.remove_on_call(db, period_id, _now(), current_user().actor)
        except contact_service.ContactError as error:
            raise _refused(error) from None
    return _act(action, "On-call period removed.", url_for("office.on_call"))
