"""Phone numbers: normalise what Twilio or a rota gives us to E.164, the one form we store."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

DEFAULT_REGION = "GB"

# What Twilio puts in From when the caller withholds their number (plus the empty string).
WITHHELD = {"", "anonymous", "restricted", "unknown", "private", "unavailable", "+266696687"}


class InvalidPhoneNumber(ValueError):
    """A number that is not a valid phone number; the message says why, for a person."""


def is_withheld(raw: str | None) -> bool:
    """True when the caller ID is withheld or absent."""
    return (raw or "").strip().lower() in WITHHELD


@lru_cache(maxsize=8192)
def normalise(raw: str, region: str = DEFAULT_REGION) -> str:
    """'0113 496 0001' or '+44 113 4960001' -> '+441134960001'; else InvalidPhoneNumber.

    Cached: every call and text normalises its caller's number, from a small set of numbers,
    and phonenumbers' parse and validation cost more than the rest of a webhook's Python.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("the phone number is empty")
    try:
        parsed = phonenumbers.parse(text, region)
    except NumberParseException as error:
        raise InvalidPhoneNumber(f"{text!r} is not a phone number ({error})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalise(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """Normalise, or None when the number is withheld or invalid."""
    if raw is None or is_withheld(raw):
        return None
    try:
        return normalise(raw, region)
    except InvalidPhoneNumber:
        return None


def is_mobile(e164: str) -> bool:
    """True for a mobile number (a call from one proves nothing about where the carer is)."""
    parsed = phonenumbers.parse(e164, DEFAULT_REGION)
    return phonenumbers.number_type(parsed) in (
        PhoneNumberType.MOBILE,
        PhoneNumberType.PAGER,
        PhoneNumberType.PERSONAL_NUMBER,
    )


def national(e164: str) -> str:
    """'+447700900123' -> '07700 900123' for a UK number (how the office reads and types it);
    other countries' numbers in international form; anything unparseable as it is."""
    try:
        parsed = phonenumbers.parse(e164, DEFAULT_REGION)
    except NumberParseException:
        return e164
    fmt = (phonenumbers.PhoneNumberFormat.NATIONAL
           if parsed.country_code == 44
           else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(parsed, fmt)
