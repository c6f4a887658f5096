"""The printable code sheet's own styles are allowed by its CSP (by hash), nothing else inline."""

from __future__ import annotations

import base64
import hashlib
import re

from sqlalchemy.orm import Session

from tests.office.conftest import Office
from tests.office.test_actions import _rota


def test_the_code_sheets_inline_style_is_allowed_by_its_own_hash(as_coordinator: Office,
                                                                 session: Session) -> None:
    _rota(session)
    printed = as_coordinator.post("/office/adults/A1/code-sheet", {})
    assert printed.status_code == 200
    [style] = re.findall(r"<style>(.*?)</style>", printed.get_data(as_text=True), re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = printed.headers["Content-Security-Policy"]
    assert f"style-src 'self' 'sha256-{digest}';" in policy
    assert "unsafe-inline" not in policy and "script-src 'self'" in policy
    board = as_coordinator.get("/office/").headers["Content-Security-Policy"]
    assert "style-src 'self';" in board  # every other page keeps the strict policy


def test_an_unknown_office_path_is_the_dashboards_html_404(as_coordinator: Office) -> None:
    response = as_coordinator.get("/office/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "There is no such page or record." in response.get_data(as_text=True)
