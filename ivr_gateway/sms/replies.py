"""Replies to texts, per language, from the data files in replies/ (wording is data, not code)."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

REPLIES_DIR = Path(__file__).resolve().parent / "replies"
DEFAULT_LANGUAGE = "en"
SEGMENT = 160  # one GSM-7 SMS segment

# GSM 03.38 basic character set and its extension table (each extension character costs two).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def gsm7_length(text: str) -> int | None:
    """Septets the text takes in GSM-7, or None when a character is not in GSM-7."""
    length = 0
    for ch in text:
        if ch in GSM7_BASIC:
            length += 1
        elif ch in GSM7_EXTENSION:
            length += 2
        else:
            return None
    return length


def fits_one_segment(text: str) -> bool:
    """True when the text is one GSM-7 segment: no curly quotes, emoji or Polish letters."""
    length = gsm7_length(text)
    return length is not None and length <= SEGMENT


@cache
def replies_for(language: str) -> dict[str, str]:
    """The replies of a language (English when there is no file for it)."""
    path = REPLIES_DIR / f"{language}.toml"
    if not path.exists():
        path = REPLIES_DIR / f"{DEFAULT_LANGUAGE}.toml"
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return {str(k): str(v) for k, v in data.items()}


def languages() -> list[str]:
    """The languages there are replies in."""
    return sorted(p.stem for p in REPLIES_DIR.glob("*.toml"))


def render(language: str, key: str, **values: Any) -> str:
    """One reply with its placeholders filled."""
    return replies_for(language)[key].format(**values)
