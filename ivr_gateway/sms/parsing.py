"""Parsing what people really text: `IN 123456`, `in123456`, `Out 123 456`, a bare code, HELP, ACK.

The parser is forgiving of case, spacing and punctuation, and strict about everything else: a
text that is not a command word followed by digits, or digits alone, never becomes a log command.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ivr_gateway.models import LogKind

# Twilio's own opt-out keywords on long codes (the whole message, any case): Twilio stops
# delivering our texts after STOP and resumes after START, and passes the message on to us.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT",
                        "REVOKE"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO", "POMOC"})
# Words that mean in / out, in English and Polish (without diacritics, as phones often send).
IN_WORDS = {"IN": LogKind.IN, "LOGIN": LogKind.IN, "WEJSCIE": LogKind.IN}
OUT_WORDS = {"OUT": LogKind.OUT, "LOGOUT": LogKind.OUT, "WYJSCIE": LogKind.OUT}
DIRECTION_WORDS = {**IN_WORDS, **OUT_WORDS}

# Every code we issue is 6 to 8 digits (tokens: 6 or 8; sheets: 8 with a check digit).
CODE_LENGTHS = range(6, 9)

_COMMAND = re.compile(r"(?P<word>[A-Z]*)(?P<digits>[0-9]*)", re.ASCII)
_ACK = re.compile(r"ACK(?P<number>[0-9]{1,9})?", re.ASCII)


@dataclass(frozen=True)
class LogCommand:
    """Log a visit with a code; kind None means work in/out out as for calls."""

    kind: LogKind | None
    code: str


@dataclass(frozen=True)
class MistypedCode:
    """Digits that cannot be a code of ours (wrong length): ask the carer to check the code."""

    kind: LogKind | None
    digits: str


@dataclass(frozen=True)
class NoCode:
    """A direction word with no code, an empty text, or words we do not know."""

    kind: LogKind | None
    text: str


@dataclass(frozen=True)
class HelpCommand:
    """HELP: how to log a visit by text."""


@dataclass(frozen=True)
class AckCommand:
    """ACK, or ACK 12: acknowledge an alert (the escalation engine hooks here)."""

    alert_number: int | None


@dataclass(frozen=True)
class StopCommand:
    """STOP and its synonyms: the number no longer receives our texts."""


@dataclass(frozen=True)
class StartCommand:
    """START and its synonyms: the number receives our texts again."""


TextCommand = (LogCommand | MistypedCode | NoCode | HelpCommand | AckCommand | StopCommand
               | StartCommand)


def squeeze(body: str) -> str:
    """Upper-case letters and digits only: 'In: 123-456!' -> 'IN123456'.

    NFKC first, so full-width digits and compatibility letters a phone may send become plain;
    anything that is then not an ASCII letter or digit (spaces, punctuation, symbols, emoji)
    is dropped, and a letter outside ASCII stays (so the text is not a command we know).
    """
    text = unicodedata.normalize("NFKC", body).upper()
    kept = []
    for ch in text:
        if ch.isascii() and ch.isalnum():
            kept.append(ch)
        elif ch.isalpha() or ch.isdigit():
            kept.append("?")  # a letter or digit we do not read: never part of a command
    return "".join(kept)


def parse_text_command(body: str) -> TextCommand:
    """Read a text into a typed command (see the module docstring for what is accepted)."""
    squeezed = squeeze(body)
    if squeezed in STOP_WORDS:
        return StopCommand()
    if squeezed in START_WORDS:
        return StartCommand()
    if squeezed in HELP_WORDS:
        return HelpCommand()
    ack = _ACK.fullmatch(squeezed)
    if ack:
        number = ack.group("number")
        return AckCommand(int(number) if number else None)
    match = _COMMAND.fullmatch(squeezed)
    if match is None:
        return NoCode(None, body.strip())
    word, digits = match.group("word"), match.group("digits")
    if word and word not in DIRECTION_WORDS:
        return NoCode(None, body.strip())
    kind = DIRECTION_WORDS.get(word) if word else None
    if not digits:
        return NoCode(kind, body.strip())
    if len(digits) not in CODE_LENGTHS:
        return MistypedCode(kind, digits)
    return LogCommand(kind, digits)

