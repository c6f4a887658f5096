"""Wall-screen display links: a read-only link to today's board that needs no login.

An office wall screen must not go blank when whoever logged it in logs out on another device
(that ends every session of theirs: auth.session_epoch). So an administrator makes a display
link instead: an unguessable token (256 random bits, only its SHA-256 kept, like the API's
tokens) that shows today's board read-only, and revokes it when the screen is lost or moved;
the display says so at its next refresh. Created and revoked from the dashboard or the CLI,
audited one way.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.models import AuditEntry
from ivr_gateway.office.models import DisplayLink

NAME_MAX = 100
TOKEN_PREFIX = "wall_"  # noqa: S105 - a prefix that names the kind of token, no secret


class DisplayRefused(ValueError):
    """A display-link change that cannot be made, with the reason in the office's words."""


def hash_display_token(token: str) -> str:
    """SHA-256 of a display token: enough for a 256-bit random secret, and fast to look up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _audit(session: Session, link: DisplayLink, action: str, *, now: datetime,
           actor: str) -> None:
    session.add(AuditEntry(at=now, actor=actor[:100], action=action, entity="display_link",
                           entity_ref=link.name[:64], detail={}))


def list_display_links(session: Session) -> list[DisplayLink]:
    """Every display link, live ones first, then by name."""
    return list(session.scalars(select(DisplayLink).order_by(
        DisplayLink.revoked_at.is_not(None), DisplayLink.name)))


def create_display_link(session: Session, name: str, *, now: datetime,
                        actor: str) -> tuple[DisplayLink, str]:
    """A new display link called `name` (the screen it is for) and its token, shown once.

    DisplayRefused if the name is empty, too long or taken (a revoked link keeps its name, so
    the audit trail stays unambiguous).
    """
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise DisplayRefused(f"a display link needs a name of 1 to {NAME_MAX} characters (the "
                             "screen it is for, e.g. 'Office wall')")
    if session.scalar(select(DisplayLink.id).where(DisplayLink.name == name)) is not None:
        raise DisplayRefused(f"a display link called {name!r} already exists; choose another "
                             "name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    link = DisplayLink(name=name, token_hash=hash_display_token(token), created_by=actor[:100],
                       created_at=now)
    session.add(link)
    session.flush()
    _audit(session, link, "create", now=now, actor=actor)
    return link, token


def revoke_display_link(session: Session, *, now: datetime, actor: str,
                        link_id: int | None = None, name: str | None = None) -> DisplayLink:
    """Revoke the link with this id (dashboard) or name (CLI): its screen stops at its next
    refresh. LookupError if there is no such link; DisplayRefused if it was already revoked."""
    query = select(DisplayLink).with_for_update()
    if link_id is not None:
        query = query.where(DisplayLink.id == link_id)
    else:
        query = query.where(DisplayLink.name == " ".join((name or "").split()))
    link = session.scalar(query)
    if link is None:
        raise LookupError("there is no such display link" if link_id is not None
                          else f"there is no display link called {name!r}")
    if link.revoked_at is not None:
        raise DisplayRefused(f"the display link {link.name!r} was already revoked")
    link.revoked_at = now
    _audit(session, link, "revoke", now=now, actor=actor)
    return link


def find_display_link(session: Session, token: str) -> DisplayLink | None:
    """The link this token opens (revoked or not), or None for a token never issued."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    return session.scalar(select(DisplayLink).where(
        DisplayLink.token_hash == hash_display_token(token)))
