"""/office/api-tokens: bearer tokens for rostering systems (administrators)."""

from __future__ import annotations

from typing import Any

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from ivr_gateway import extensions
from ivr_gateway.api import tokens as token_service
from ivr_gateway.api.models import ApiToken
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.views import (
    ADMINISTRATOR,
    _act,
    _now,
    _refusal,
    blueprint,
)


@blueprint.route("/api-tokens", methods=["GET", "POST"])
@requires(ADMINISTRATOR)
def api_tokens() -> Any:
    """Bearer tokens for rostering systems: create (shown once), list, revoke."""
    new_token = None
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        try:
            with extensions.database().unit_of_work() as db:
                _token, new_token = token_service.create_api_token(
                    db, name, now=_now(), actor=current_user().actor)
        except token_service.TokenRefused as refused:
            flash(str(_refusal(refused)), "error")
    with extensions.database().unit_of_work() as db:
        tokens = token_service.list_api_tokens(db)
    return render_template("office/api_tokens.html", tokens=tokens, new_token=new_token)


@blueprint.route("/api-tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@requires(ADMINISTRATOR)
def revoke_api_token(token_id: int) -> Any:
    """Revoke a token: asks first (it cannot be undone), then requests with it are refused."""
    if request.method == "GET":
        with extensions.database().unit_of_work() as db:
            token = db.get(ApiToken, token_id)
            if token is None:
                abort(404)
            name, revoked = token.name, token.revoked_at is not None
        if revoked:
            flash(f"The token {name} is already revoked.", "info")
            return redirect(url_for("office.api_tokens"))
        return render_template(
            "office/confirm.html", title=f"Revoke the token {name}?",
            message=(f"Requests with the token {name} are refused from the moment you revoke "
                     "it, so the rostering system that uses it stops sending the rota until it "
                     "is given a new token. A revoked token cannot be brought back."),
            action=url_for("office.revoke_api_token", token_id=token_id),
            button=f"Revoke {name}", back=url_for("office.api_tokens"))

    def action(db: Any) -> None:
        try:
            token_service.revoke_api_token(db, token_id=token_id, now=_now(),
                                           actor=current_user().actor)
        except (token_service.TokenRefused, LookupError) as refused:
            raise _refusal(refused) from None
    return _act(action, "Token revoked.", url_for("office.api_tokens"))
