"""Demo office contacts: a coordinator, an on-call person (on call for the next day), a manager."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ivr_gateway.escalation.contacts import add_contact, add_on_call


@dataclass(frozen=True)
class DemoContact:
    """A demo contact, for the banner."""

    name: str
    role: str
    mobile: str


DEMO_CONTACTS = [
    DemoContact("Sam Carter", "coordinator", "+447911123501"),
    DemoContact("Olu Bello", "on_call", "+447911123502"),
    DemoContact("Rita Patel", "manager", "+447911123503"),
]


def load_demo_contacts(session: Session, now: datetime) -> list[DemoContact]:
    """Add the demo ladder; the on-call person is on call from now for 24 hours."""
    for person in DEMO_CONTACTS:
        contact = add_contact(session, name=person.name, role=person.role, mobile=person.mobile,
                              now=now, actor="demo")
        if person.role == "on_call":
            add_on_call(session, contact_id=contact.id, starts_at=now,
                        ends_at=now + timedelta(hours=24), now=now, actor="demo")
    return DEMO_CONTACTS
