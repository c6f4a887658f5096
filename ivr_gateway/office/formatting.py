"""How the dashboard writes phone numbers: UK national format for people, E.164 for tel: links.

The database and the API keep E.164 (+447911123450); a tired coordinator reads and dials
07911 123450. One filter, used by every office template that shows a number.
"""

from __future__ import annotations

from ivr_gateway.office.views import blueprint
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
