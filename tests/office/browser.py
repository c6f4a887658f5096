"""What every browser test of the dashboard shares: Debian's chromium and the marks (the
`browser` fixture itself is in tests/office/conftest.py).

Playwright drives /usr/bin/chromium (never a browser download); screenshots go to
test-artifacts/. Browser tests run on SQLite only: the pages are the same on both engines, and
PostgreSQL's own behaviour is covered by the HTTP tests.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from ivr_gateway.config import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="needs Debian's chromium (apt-get install chromium)"),
]


def log_in(page: Any, base_url: str, username: str = "cora", path: str = "/office/") -> None:
    """Log in through the form, keyboard only (Enter, no mouse), and land on `path`."""
    from tests.office.conftest import PASSWORD  # the conftest imports this module first

    page.goto(f"{base_url}{path}")
    assert "/office/login" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(f"{base_url}{path}")
