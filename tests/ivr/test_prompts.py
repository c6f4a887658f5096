"""Prompts that depend on a number use the language's plural forms."""

from __future__ import annotations

import pytest

from ivr_gateway.config import Settings
from ivr_gateway.ivr.engine import carer_flow
from ivr_gateway.ivr.flow import plural_category


@pytest.mark.parametrize(("n", "english", "polish"), [
    (1, " 1 minute.", " 1 minuta."),
    (3, " 3 minutes.", " 3 minuty."),
    (5, " 5 minutes.", " 5 minut."),
    (13, " 13 minutes.", " 13 minut."),
    (24, " 24 minutes.", " 24 minuty."),
])
def test_duration_read_back_agrees_with_the_number(n: int, english: str, polish: str) -> None:
    flow = carer_flow(Settings())
    assert flow.prompts["en"].render("duration", {"minutes": n}) == english
    assert flow.prompts["pl"].render("duration", {"minutes": n}) == polish


def test_lock_message_for_one_minute_left_is_singular() -> None:
    text = carer_flow(Settings()).prompts["en"].render("goodbye_locked", {"minutes": 1})
    assert text.startswith("This carer number is locked for 1 minute after")


@pytest.mark.parametrize(("language", "n", "category"), [
    ("en", 0, "other"), ("en", 1, "one"), ("en", 2, "other"),
    ("pl", 1, "one"), ("pl", 2, "few"), ("pl", 4, "few"), ("pl", 5, "many"), ("pl", 12, "many"),
    ("pl", 22, "few"), ("pl", 112, "many"),
])
def test_plural_rules(language: str, n: int, category: str) -> None:
    assert plural_category(language, n) == category
