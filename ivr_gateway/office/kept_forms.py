"""What was typed into a form the office refused, kept for the page it goes back to.

A refused form redirects to its page (post/redirect/get), which would otherwise come back empty:
a coordinator who typed a reason of three lines and one wrong time would type it all again.
The typed values (never a password or a PIN) wait in the session for one page view.
"""

from __future__ import annotations

from typing import Any

from flask import g, request, session

from ivr_gateway.office.views import blueprint

SESSION_KEY = "office_kept_form"
# Never kept: secrets are typed again, and the CSRF token is the session's own.
NOT_KEPT = frozenset({"csrf_token", "password", "password_again", "current_password", "pin",
                      "pin_again"})
MAX_VALUE = 2000  # the longest field is 1000 characters; the cookie stays small


def keep_form(name: str) -> None:
    """Keep this request's form values for the next page that shows the form `name`."""
    session[SESSION_KEY] = {"name": name, "values": {
        key: value[:MAX_VALUE] for key, value in request.form.items() if key not in NOT_KEPT}}


def kept(name: str) -> dict[str, str]:
    """The values typed into form `name` that was just refused ({} if none); read once."""
    if "kept_form" not in g:
        g.kept_form = session.pop(SESSION_KEY, None) or {}
    found: dict[str, Any] = g.kept_form
    return dict(found.get("values", {})) if found.get("name") == name else {}


@blueprint.app_context_processor
def _kept_forms() -> dict[str, Any]:
    return {"kept": kept}
