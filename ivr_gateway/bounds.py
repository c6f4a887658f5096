"""The ranges the gateway's values live in: ids a PostgreSQL integer holds, the days it serves.

Plain functions, imported by the request guards and by the adapters that read raw input
(telephony's status callback), so no layer has to import the web app's guards to use them.
"""

from __future__ import annotations

from datetime import date, datetime

PG_INT_MAX = 2**31 - 1
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
DAY_RANGE = f"between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}"


def fits_integer_column(raw: str) -> bool:
    """True when the text is a whole number a PostgreSQL ``integer`` id can hold."""
    return raw.isascii() and raw.isdigit() and int(raw) <= PG_INT_MAX


def day_in_range(day: date | datetime) -> bool:
    """True for a day the gateway can work with (its arithmetic never leaves datetime's range)."""
    value = day.date() if isinstance(day, datetime) else day
    return FIRST_DAY <= value <= LAST_DAY
