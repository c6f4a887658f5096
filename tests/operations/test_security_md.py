"""SECURITY.md names the tests that prove each defence: every one it names exists."""

from __future__ import annotations

import re

from ivr_gateway.config import PROJECT_ROOT


def named_tests() -> list[tuple[str, str]]:
    """(test file, test function) for every `file::function` and following `::function`."""
    text = (PROJECT_ROOT / "SECURITY.md").read_text()
    found = []
    current = ""
    for match in re.finditer(r"`(tests/[\w/]+\.py)?::(test_\w+)`|`(tests/[\w/]+\.py)`", text):
        if match.group(3):
            current = match.group(3)
            continue
        current = match.group(1) or current
        found.append((current, match.group(2)))
    return found


def test_every_test_security_md_names_exists() -> None:
    named = named_tests()
    assert len(named) > 40
    missing = [f"{path}::{name}" for path, name in named
               if not re.search(rf"^def {name}\(", (PROJECT_ROOT / path).read_text(), re.M)]
    assert not missing, f"SECURITY.md names tests that do not exist: {missing}"
