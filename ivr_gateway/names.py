"""People's names as carers hear and read them: initials only, never the full name.

A plain function in the bottom layer, apart from the tables, so that what reads a name without
the ORM (`codes now`'s driver path, sms/code_now.py) shows the same initials as the models do.
"""

from __future__ import annotations


def initials_of(given_name: str, family_name: str) -> str:
    """'Joan Smith' -> 'J.S.' (hyphenated family names keep one initial)."""
    parts = [p for p in (given_name.strip(), family_name.strip()) if p]
    return "".join(p[0].upper() + "." for p in parts)
