"""API tokens: create, list and revoke, audited one way whether from the CLI or the dashboard."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.api.models import ApiToken
from ivr_gateway.hashing import hash_api_token, new_api_token
from ivr_gateway.models import AuditEntry

NAME_MAX = 100


class TokenRefused(ValueError):
    """A token change that cannot be made, with the reason in the office's words."""


def list_api_tokens(session: Session) -> list[ApiToken]:
    """Every token, by name (only hashes are stored, so no secret can be shown)."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def _audit(session: Session, token: ApiToken, action: str, *, now: datetime,
           actor: str) -> None:
    session.add(AuditEntry(at=now, actor=actor[:100], action=action, entity="api_token",
                           entity_ref=token.name[:64], detail={}))


def create_api_token(session: Session, name: str, *, now: datetime,
                     actor: str) -> tuple[ApiToken, str]:
    """A new token called `name` and its secret, to show once (only its SHA-256 is kept).

    TokenRefused if the name is empty, too long, or taken (a revoked token keeps its name, so
    the audit trail stays unambiguous).
    """
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise TokenRefused(f"a token needs a name of 1 to {NAME_MAX} characters (the system "
                           "using it)")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise TokenRefused(f"a token called {name!r} already exists; choose another name")
    secret = new_api_token()
    token = ApiToken(name=name, token_hash=hash_api_token(secret), created_at=now)
    session.add(token)
    session.flush()
    _audit(session, token, "create", now=now, actor=actor)
    return token, secret


def revoke_api_token(session: Session, *, now: datetime, actor: str, name: str | None = None,
                     token_id: int | None = None) -> ApiToken:
    """Revoke the token with this name (CLI) or id (dashboard): it is refused from now on.

    LookupError if there is no such token; TokenRefused if it was already revoked.
    """
    query = select(ApiToken).with_for_update()
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    else:
        query = query.where(ApiToken.name == (name or "").strip())
    token = session.scalar(query)
    if token is None:
        raise LookupError(f"there is no token called {name!r}" if token_id is None
                          else "there is no such token")
    if token.revoked_at is not None:
        raise TokenRefused(f"token {token.name!r} was already revoked")
    token.revoked_at = now
    _audit(session, token, "revoke", now=now, actor=actor)
    return token
