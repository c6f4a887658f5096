"""How the dashboard writes phone numbers (UK national format for people, E.164 for tel: links),
and codes in words (office/wording.py).

The database and the API keep E.164 (+447911123450); a tired coordinator reads and dials
07911 123450. One filter, used by every office template that shows a number.
"""

from __future__ import annotations

from flask import g

from ivr_gateway import extensions
from ivr_gateway.office.board import (
    EXCEPTION_WORDS,
    VERIFICATION_WORDS,
    person_name,
    person_with_door,
)
from ivr_gateway.office.providers import AlertView, Notification
from ivr_gateway.office.views import blueprint
from ivr_gateway.office.wording import (
    alert_kind_words,
    alert_reach,
    notification_sentence,
    office_names,
    reason_labels,
    reason_words,
)
from ivr_gateway.phones import national_format, try_normalise


@blueprint.app_template_filter("uk_phone")
def uk_phone(number: str | None) -> str:
    """'+441134960002' as '0113 496 0002'; a number phonenumbers cannot read, as given."""
    return national_format(number)


@blueprint.app_template_filter("tel")
def tel(number: str | None) -> str:
    """A tel: link target (E.164 where the number is valid, else the digits as given)."""
    e164 = try_normalise(number)
    return f"tel:{e164 or ''.join(c for c in (number or '') if c.isdigit() or c == '+')}"


@blueprint.app_template_filter("told")
def told(notification: Notification) -> str:
    """'Texted Cora, the coordinator on duty: delivered' (office/wording.py)."""
    return notification_sentence(notification)


@blueprint.app_template_filter("reach")
def reach(alert: AlertView) -> str:
    """How far up the ladder an alert went, in words, instead of its level number."""
    return alert_reach(alert)


@blueprint.app_template_filter("alert_kind")
def alert_kind(kind: str) -> str:
    """'late_start' as 'late start'."""
    return alert_kind_words(kind)


@blueprint.app_template_filter("reason_label")
def reason_label(recorded: str | None) -> str:
    """A reason code as its label from the reason_codes table (read once per request)."""
    if "reason_labels" not in g:
        with extensions.database().unit_of_work() as db:
            g.reason_labels = reason_labels(db)
    return reason_words(recorded, g.reason_labels)


@blueprint.app_template_filter("person")
def person(actor: str | None) -> str:
    """An audit actor ('office:jo') as the office user's display name ('Jo Bloggs')."""
    return person_name(actor, _names_for(actor))


def _names_for(actor: str | None) -> dict[str, str]:
    """Office display names by username, read once per request and user."""
    if "office_names" not in g:
        g.office_names = {}
    names: dict[str, str] = g.office_names
    door, _, username = (actor or "").partition(":")
    if door == "office" and username not in names:
        with extensions.database().unit_of_work() as db:
            names.update(office_names(db, [actor]))
        names.setdefault(username, username)
    return names


@blueprint.app_template_filter("who")
def who(actor: str | None) -> str:
    """An actor with the door they came through: 'office:cora' as 'Cora (office)'."""
    return person_with_door(actor, _names_for(actor))


@blueprint.app_template_filter("verification_words")
def verification_words(code: object) -> str:
    """How presence was proven, in words ('caller_id' as 'caller ID')."""
    value = str(getattr(code, "value", code) or "")
    return VERIFICATION_WORDS.get(value, value.replace("_", " ")) if value else "–"


@blueprint.app_template_filter("exception_words")
def exception_words(code: object) -> str:
    """An exception code in words ('carer_corrected_direction' as 'carer pressed 9')."""
    value = str(getattr(code, "value", code) or "")
    return EXCEPTION_WORDS.get(value, value.replace("_", " "))


VISIT_STATE_WORDS = {"open": "in progress", "closed": "logged out",
                     "missing_log_out": "no log-out"}


@blueprint.app_template_filter("visit_state_words")
def visit_state_words(code: object) -> str:
    """A carer's visit state in words ('missing_log_out' as 'no log-out')."""
    value = str(getattr(code, "value", code) or "")
    return VISIT_STATE_WORDS.get(value, value.replace("_", " "))
