"""The text parser: forgiving of how people type, and nothing but a code ever logs a visit."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr_gateway.models import LogKind
from ivr_gateway.sms.codes import damm_digit, damm_valid
from ivr_gateway.sms.parsing import (
    AckCommand,
    HelpCommand,
    LogCommand,
    MistypedCode,
    NoCode,
    StartCommand,
    StopCommand,
    parse_text_command,
)


@pytest.mark.parametrize(("body", "kind", "code"), [
    ("IN 123456", LogKind.IN, "123456"),
    ("in123456", LogKind.IN, "123456"),
    ("Out 123 456", LogKind.OUT, "123456"),
    ("123456", None, "123456"),
    ("  in: 123-456. ", LogKind.IN, "123456"),
    ("OUT 1234 5678", LogKind.OUT, "12345678"),
    ("In\n123456\n", LogKind.IN, "123456"),
    ("１２３４５６", None, "123456"),  # full-width digits from some phones' keyboards
    ("wejscie 123456", LogKind.IN, "123456"),
    ("Log out 123456", LogKind.OUT, "123456"),
])
def test_codes_parse_however_they_are_typed(body: str, kind: LogKind | None, code: str) -> None:
    assert parse_text_command(body) == LogCommand(kind, code)


@pytest.mark.parametrize(("body", "expected"), [
    ("HELP", HelpCommand()), ("help?", HelpCommand()), ("Info", HelpCommand()),
    ("ACK", AckCommand(None)), ("ack 12", AckCommand(12)), ("Ack #7", AckCommand(7)),
    ("STOP", StopCommand()), ("stop", StopCommand()), ("Unsubscribe", StopCommand()),
    ("START", StartCommand()), ("yes", StartCommand()), ("UNSTOP", StartCommand()),
    ("IN", NoCode(LogKind.IN, "IN")), ("", NoCode(None, "")),
    ("hello there", NoCode(None, "hello there")),
    ("IN 1234", MistypedCode(LogKind.IN, "1234")),
    ("OUT 123456789", MistypedCode(LogKind.OUT, "123456789")),
])
def test_other_texts_parse_to_their_commands(body: str, expected: object) -> None:
    assert parse_text_command(body) == expected


def test_stop_within_a_sentence_is_not_an_opt_out() -> None:
    # Twilio only treats the whole message as the keyword; so do we.
    assert not isinstance(parse_text_command("please stop texting"), StopCommand)


_noise = st.text(alphabet=" \t\n.,:;-_/#!?()'\"*", max_size=4)
_word = st.sampled_from(["", "in", "IN", "In", "iN", "out", "OUT", "Out"])
_code = st.text(alphabet="0123456789", min_size=6, max_size=8)


@given(_noise, _word, _noise, _code, _noise, st.data())
def test_any_spacing_case_or_punctuation_around_a_valid_code_still_parses(
        before: str, word: str, between: str, code: str, after: str, data: st.DataObject
) -> None:
    # Separators may also fall between the digits ("123 456", "123-456").
    cuts = sorted(data.draw(st.sets(st.integers(1, len(code) - 1), max_size=2)))
    pieces = [code[i:j] for i, j in zip([0, *cuts], [*cuts, len(code)], strict=True)]
    spaced = data.draw(st.sampled_from([" ", "-", ".", "  "])).join(pieces)
    body = before + word + between + spaced + after
    kind = {"in": LogKind.IN, "out": LogKind.OUT}.get(word.lower())
    assert parse_text_command(body) == LogCommand(kind, code)


@given(st.text(max_size=40))
def test_a_text_without_six_to_eight_digits_never_logs_a_visit(body: str) -> None:
    digits = re.sub(r"[^0-9]", "", body)
    if 6 <= len(digits) <= 8:
        return  # may be a code; the other properties cover it
    assert not isinstance(parse_text_command(body), LogCommand)


@given(st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=6), _code)
def test_words_other_than_in_or_out_never_log_a_visit(word: str, code: str) -> None:
    if word.upper() in ("IN", "OUT", "LOGIN", "LOGOUT", "WEJSCIE", "WYJSCIE"):
        return
    for body in (f"{word} {code}", f"{code} {word}", f"IN {code} {word}"):
        result = parse_text_command(body)
        assert not isinstance(result, LogCommand), (body, result)


@given(st.text(alphabet="0123456789", min_size=1, max_size=12))
def test_damm_check_digit_catches_every_single_digit_error(body: str) -> None:
    code = body + damm_digit(body)
    assert damm_valid(code)
    for i in range(len(code)):
        for d in "0123456789":
            if d != code[i]:
                assert not damm_valid(code[:i] + d + code[i + 1:])


@given(st.text(alphabet="0123456789", min_size=2, max_size=12))
def test_damm_check_digit_catches_every_swap_of_neighbours(body: str) -> None:
    code = body + damm_digit(body)
    for i in range(len(code) - 1):
        if code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
            assert not damm_valid(swapped)
