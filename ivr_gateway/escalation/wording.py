"""What texts and calls say: initials, a short alert number and times; one GSM-7 segment.

No full names, no addresses: a text can be read over a shoulder or on a lost phone.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ivr_gateway.escalation.models import Alert, AlertKind

SEGMENT = 160
# The GSM 03.38 basic character set (the escape table's characters cost two, so are left out).
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRS"
           "TUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")


def is_one_segment(text: str) -> bool:
    """True when the text goes as a single GSM-7 SMS segment (160 characters, basic set)."""
    return len(text) <= SEGMENT and all(ch in GSM7 for ch in text)


def fit(text: str) -> str:
    """Replace characters outside GSM-7 and cut to one segment."""
    plain = "".join(ch if ch in GSM7 else "?" for ch in text.replace("–", "-").replace("’", "'"))
    return plain if len(plain) <= SEGMENT else plain[: SEGMENT - 3] + "..."


def hhmm(at: datetime, tz: ZoneInfo) -> str:
    """'09:05' on the local wall clock."""
    return at.astimezone(tz).strftime("%H:%M")


def day_hhmm(at: datetime, tz: ZoneInfo) -> str:
    """'Tue 09:05' on the local wall clock."""
    return at.astimezone(tz).strftime("%a %H:%M")


def alert_text(alert: Alert) -> str:
    """The office's text: number, what happened, how to acknowledge."""
    return fit(f"EHM alert {alert.number}: {alert.summary}. Reply ACK {alert.number}")


# The carer's texts in each carer language (the IVR's and the SMS replies' languages). Polish
# without its diacritics, as the SMS replies do: GSM-7 has none, and with them a text is UCS-2
# (70 characters a segment).
CARER_REMINDER = {
    "en": "Did you forget to log out? {summary}. Please ring the log line now to log out, "
          "or the office will be told.",
    "pl": "Czy zapomniales sie wylogowac? {summary}. Zadzwon teraz na linie logowania, by sie "
          "wylogowac, inaczej powiadomimy biuro.",
}


def carer_reminder_text(summary: str, language: str = "en") -> str:
    """The carer's nudge before the office is told, in the carer's language (else English)."""
    return fit(CARER_REMINDER.get(language, CARER_REMINDER["en"]).format(summary=summary))


def resolved_text(alert: Alert, reason: str) -> str:
    """Tells whoever was told that it has sorted itself out."""
    return fit(f"EHM alert {alert.number} resolved: {reason}. No action needed.")


def acknowledged_text(alert: Alert, by_initials: str, at: datetime, tz: ZoneInfo) -> str:
    """Tells the others that someone has it in hand."""
    return fit(f"EHM alert {alert.number} acknowledged by {by_initials} at {hhmm(at, tz)}. "
               "No action needed.")


def spoken_alert(alert: Alert) -> str:
    """What the voice call says before 'press 1'."""
    digits = " ".join(str(alert.number))
    return f"Care alert {digits}. {alert.summary}."


KIND_WORDS = {
    AlertKind.LATE_START: "late start",
    AlertKind.MISSED_VISIT: "missed visit",
    AlertKind.SHORT_OF_CARER: "double-up short of a carer",
    AlertKind.MISSING_LOG_OUT: "missing log-out",
    AlertKind.CARER_CONCERN: "carer concern",
    AlertKind.REASON_CODE_DUE: "reason code due",
    AlertKind.REASON_CODE_OVERDUE: "reason code overdue",
    AlertKind.FORWARDING_FAILED: "forwarding failed",
}
