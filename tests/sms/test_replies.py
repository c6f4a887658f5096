"""Every reply fits one GSM-7 segment in every language, with the longest values it can carry."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.twiml.messaging_response import MessagingResponse

from ivr_gateway.sms.replies import fits_one_segment, gsm7_length, languages, render, replies_for
from ivr_gateway.sms.views import message_twiml

LONGEST = {"time": "23:59", "arrived": "23:59", "until": "23:59", "initials": "W.W.",
           "minutes": "720"}


def test_replies_exist_in_english_and_polish_with_the_same_keys() -> None:
    assert {"en", "pl"} <= set(languages())
    assert set(replies_for("en")) == set(replies_for("pl"))


@pytest.mark.parametrize("language", ["en", "pl"])
def test_every_reply_and_its_notes_fit_one_gsm7_segment(language: str) -> None:
    texts = replies_for(language)
    for key in texts:
        rendered = render(language, key, **LONGEST)
        assert fits_one_segment(rendered), (language, key, rendered, gsm7_length(rendered))
    for base in ("logged_in", "logged_out"):
        # The longest combination a log can carry: a late code's note (flags may be dropped).
        full = render(language, base, **LONGEST) + render(language, "late_note", **LONGEST)
        assert fits_one_segment(full), (language, base, len(full))


@pytest.mark.parametrize("language", ["en", "pl"])
def test_placeholders_are_only_the_known_ones(language: str) -> None:
    for key, template in replies_for(language).items():
        assert set(re.findall(r"{(\w+)}", template)) <= set(LONGEST), key


@pytest.mark.parametrize("text", ["It’s", "Zalogowano u Łucji", "Logged in 🙂"])
def test_curly_quotes_polish_letters_and_emoji_are_not_gsm7(text: str) -> None:
    assert not fits_one_segment(text)


def test_161_characters_are_two_segments() -> None:
    assert fits_one_segment("x" * 160) and not fits_one_segment("x" * 161)
    assert not fits_one_segment("[" * 81)  # extension characters count twice


# Any text XML can carry (no control characters; a reply never has them: see replies.py).
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n\t"))


@settings(max_examples=300, deadline=None)
@given(XML_TEXT)
def test_message_twiml_reads_as_twilios_own_twiml_for_any_reply(reply: str) -> None:
    # Written by hand for speed; parsed, it must say what twilio's MessagingResponse says.
    ours = ET.fromstring(message_twiml(reply))
    response = MessagingResponse()
    if reply:
        response.message(reply)
    theirs = ET.fromstring(str(response))
    assert ours.tag == theirs.tag == "Response"
    assert [(m.tag, m.attrib, m.text or "") for m in ours] == [
        (m.tag, m.attrib, m.text or "") for m in theirs]
