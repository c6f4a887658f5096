"""Office contacts and on-call periods: who the ladder can reach, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.escalation.models import ContactRole, OfficeContact, OnCallPeriod
from ivr_gateway.models import AuditEntry
from ivr_gateway.phones import InvalidPhoneNumber, is_mobile, normalise

MAX_ON_CALL = timedelta(days=14)


class ContactError(ValueError):
    """A refusal the person can act on; code is the API's error code."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ContactView:
    """A contact as the API and CLI show it."""

    id: int
    name: str
    role: str
    mobile: str
    active: bool


def view_contact(contact: OfficeContact) -> ContactView:
    """The plain view of a contact."""
    return ContactView(contact.id, contact.name, contact.role.value, contact.mobile,
                       contact.active)


def _checked(session: Session, *, name: str, role: str, mobile: str,
             office_user_id: int | None, contact_id: int | None = None
             ) -> tuple[str, ContactRole, str]:
    """The name, role and E.164 mobile of a contact as given, or ContactError saying why not."""
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise ContactError("invalid_name", "Give the contact's name (1 to 100 characters).")
    try:
        contact_role = ContactRole(role)
    except ValueError:
        raise ContactError("invalid_role", f"Role {role!r} is not one of coordinator, on_call, "
                           "manager.") from None
    try:
        number = normalise(mobile)
    except InvalidPhoneNumber as error:
        raise ContactError("invalid_mobile", f"The mobile is not usable: {error}.") from None
    if not is_mobile(number):
        raise ContactError("invalid_mobile", f"{number} is not a mobile; alerts are texted, so "
                           "give a mobile number.")
    if session.scalar(select(OfficeContact.id).where(OfficeContact.mobile == number,
                                                     OfficeContact.id != (contact_id or 0))):
        raise ContactError("duplicate_mobile", f"{number} already belongs to a contact; each "
                           "mobile is one person (replies are recognised by it).", 409)
    return name, contact_role, number


def add_contact(session: Session, *, name: str, role: str, mobile: str, now: datetime,
                actor: str, office_user_id: int | None = None) -> OfficeContact:
    """Add an office contact with a mobile that can take texts and calls."""
    name, contact_role, number = _checked(session, name=name, role=role, mobile=mobile,
                                          office_user_id=office_user_id)
    contact = OfficeContact(name=name, role=contact_role, mobile=number, active=True,
                            office_user_id=office_user_id, created_at=now)
    session.add(contact)
    session.flush()
    detail: dict[str, object] = {"role": role}
    if office_user_id is not None:
        detail["office_user_id"] = office_user_id
    session.add(AuditEntry(at=now, actor=actor, action="create", entity="office_contact",
                           entity_ref=str(contact.id), detail=detail))
    return contact


def update_contact(session: Session, contact_id: int, *, name: str, role: str, mobile: str,
                   office_user_id: int | None, now: datetime, actor: str) -> OfficeContact:
    """Change a contact's name, role, mobile or linked office user (audited: before and after;
    nothing written when nothing changed)."""
    contact = session.get(OfficeContact, contact_id)
    if contact is None:
        raise ContactError("not_found", f"No office contact {contact_id}.", 404)
    name, contact_role, number = _checked(session, name=name, role=role, mobile=mobile,
                                          office_user_id=office_user_id, contact_id=contact_id)
    before = {"name": contact.name, "role": contact.role.value, "mobile": contact.mobile,
              "office_user_id": contact.office_user_id}
    after = {"name": name, "role": contact_role.value, "mobile": number,
             "office_user_id": office_user_id}
    if before == after:
        return contact
    contact.name, contact.role, contact.mobile = name, contact_role, number
    contact.office_user_id = office_user_id
    session.add(AuditEntry(at=now, actor=actor, action="update", entity="office_contact",
                           entity_ref=str(contact_id), detail={"before": before, "after": after}))
    return contact


def set_contact_active(session: Session, contact_id: int, active: bool, now: datetime,
                       actor: str) -> OfficeContact:
    """Take a contact off the ladder (or put them back) without losing their history."""
    contact = session.get(OfficeContact, contact_id)
    if contact is None:
        raise ContactError("not_found", f"No office contact {contact_id}.", 404)
    if contact.active == active:
        return contact  # nothing changed: nothing to audit
    contact.active = active
    session.add(AuditEntry(at=now, actor=actor, action="activate" if active else "deactivate",
                           entity="office_contact", entity_ref=str(contact_id), detail={}))
    return contact


def list_contacts(session: Session) -> list[OfficeContact]:
    """Every contact, by role then name."""
    return list(session.scalars(select(OfficeContact).order_by(OfficeContact.role,
                                                              OfficeContact.name)))


def add_on_call(session: Session, *, contact_id: int, starts_at: datetime, ends_at: datetime,
                now: datetime, actor: str) -> OnCallPeriod:
    """Put a contact on call for a period (at most 14 days; periods may overlap)."""
    contact = session.get(OfficeContact, contact_id)
    if contact is None:
        raise ContactError("not_found", f"No office contact {contact_id}; list them with "
                           "'ivr-gateway contacts list'.", 404)
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ContactError("invalid_period", "Give times with a zone (e.g. 2026-01-13T18:00Z).")
    if ends_at <= starts_at:
        raise ContactError("invalid_period", "The on-call period must end after it starts.")
    if ends_at - starts_at > MAX_ON_CALL:
        raise ContactError("invalid_period", "An on-call period is at most 14 days; add "
                           "another for the time after.")
    period = OnCallPeriod(contact_id=contact_id, starts_at=starts_at, ends_at=ends_at,
                          created_by=actor, created_at=now)
    session.add(period)
    session.flush()
    session.add(AuditEntry(at=now, actor=actor, action="create", entity="on_call_period",
                           entity_ref=str(period.id),
                           detail={"contact_id": contact_id, "starts_at": starts_at.isoformat(),
                                   "ends_at": ends_at.isoformat()}))
    return period


def remove_on_call(session: Session, period_id: int, now: datetime, actor: str) -> None:
    """Delete an on-call period (audited)."""
    period = session.get(OnCallPeriod, period_id)
    if period is None:
        raise ContactError("not_found", f"No on-call period {period_id}.", 404)
    detail = {"contact_id": period.contact_id, "starts_at": period.starts_at.isoformat(),
              "ends_at": period.ends_at.isoformat()}
    session.delete(period)
    session.add(AuditEntry(at=now, actor=actor, action="delete", entity="on_call_period",
                           entity_ref=str(period_id), detail=detail))


def on_call_periods(session: Session, start: datetime, end: datetime) -> list[OnCallPeriod]:
    """Periods overlapping [start, end), earliest first."""
    return list(session.scalars(
        select(OnCallPeriod).where(OnCallPeriod.starts_at < end, OnCallPeriod.ends_at > start)
        .order_by(OnCallPeriod.starts_at, OnCallPeriod.id)))


def contact_by_mobile(session: Session, number: str) -> OfficeContact | None:
    """The active contact texting from this number (E.164), if any."""
    return session.scalar(select(OfficeContact).where(OfficeContact.mobile == number,
                                                      OfficeContact.active.is_(True)))
