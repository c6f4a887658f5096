"""Webhook input as it can be stored: evidence first, even when the input is odd.

PostgreSQL refuses a NUL character in text and in jsonb, and a CallSid or MessageSid longer than
its column (Twilio's are 34 characters; the column holds 64). Such a request makes the normal
path fail; the fault path must still keep what arrived (DESIGN.md principle 1), so it stores the
values with each NUL written as the visible escape ``\\u0000`` and over-long ones cut, and says
so in a note kept with the evidence (``_stored_as`` in the raw fields).
"""

from __future__ import annotations

from dataclasses import dataclass

NUL_ESCAPE = "\\u0000"
SID_LENGTH = 64
FIELD_LENGTH = 2000


@dataclass(frozen=True)
class Storable:
    """A value as it will be stored, and what was changed to store it ("" for nothing)."""

    value: str
    note: str


def storable(name: str, value: str, limit: int) -> Storable:
    """The value with NULs escaped and cut to `limit` characters, with a note of any change."""
    notes = []
    text = value
    if "\x00" in text:
        text = text.replace("\x00", NUL_ESCAPE)
        notes.append(f"{name}: NUL characters written as {NUL_ESCAPE}")
    if len(text) > limit:
        notes.append(f"{name}: {len(text)} characters, cut to the first {limit}")
        text = text[:limit]
    return Storable(text, "; ".join(notes))


def storable_form(form: dict[str, str], *, leave_out: frozenset[str] = frozenset()
                  ) -> dict[str, str]:
    """The POSTed fields as storable raw evidence, with ``_stored_as`` noting any change."""
    raw: dict[str, str] = {}
    notes: list[str] = []
    for key, value in form.items():
        if key in leave_out:
            continue
        name = storable("field name", key, 100)
        field = storable(name.value, value, FIELD_LENGTH)
        raw[name.value] = field.value
        notes.extend(n for n in (name.note, field.note) if n)
    if notes:
        raw["_stored_as"] = "; ".join(notes)
    return raw


def has_unstorable(*values: str, limit: int = SID_LENGTH) -> bool:
    """True when any value holds a NUL or is longer than the limit."""
    return any("\x00" in v or len(v) > limit for v in values)
