"""Online guessing of office passwords: throttled per source address, and per account only when
the guesses come from several addresses.

Why this shape (issue "Nothing lost, no one in", finding 6): a per-account lock after five wrong
passwords lets anyone who knows a coordinator's username keep her out, again and again, from one
laptop. So one address is limited on its own (SOURCE_FAILURES wrong logins in WINDOW, whatever
the usernames, stops that address, and only it, for the rest of the window); a named login is
locked only when its failures come from ACCOUNT_LOCK_SOURCES or more different addresses within
the window (a spread-out attack, which per-address limits alone would not stop). The coordinator
typing from her own desk is then only ever slowed by her own mistakes, and a lockout never ends
anyone's live sessions: someone else's wrong guesses are no evidence that her session is stolen.

The counts live in the audit log (entity ``login_source`` by address, ``office_login`` by
username), in the database every web worker shares (DESIGN.md principle 6), so no migration and
no in-process state; they are also the security trail an administrator can read.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr_gateway.models import AuditEntry

WINDOW = timedelta(minutes=15)
SOURCE_FAILURES = 10  # wrong logins from one address within WINDOW stop that address
ACCOUNT_LOCK_SOURCES = 3  # different addresses failing one login before it is locked

SOURCE_ENTITY = "login_source"
ACCOUNT_ENTITY = "office_login"
FAILED = "login_failed"


def source_key(address: str | None) -> str:
    """The address as stored (audit refs are at most 64 characters)."""
    return (address or "unknown")[:64]


def source_is_throttled(session: Session, source: str, now: datetime) -> bool:
    """True when this address has had SOURCE_FAILURES wrong logins within the window."""
    count = session.scalar(
        select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity == SOURCE_ENTITY, AuditEntry.entity_ref == source_key(source),
            AuditEntry.action == FAILED, AuditEntry.at > now - WINDOW))
    return (count or 0) >= SOURCE_FAILURES


def record_failure(session: Session, source: str, now: datetime,
                   username: str | None) -> None:
    """Count a wrong login against its address, and against the login when it is a real one."""
    session.add(AuditEntry(at=now, actor="office", action=FAILED, entity=SOURCE_ENTITY,
                           entity_ref=source_key(source), detail={}))
    if username is not None:
        session.add(AuditEntry(at=now, actor="office", action=FAILED, entity=ACCOUNT_ENTITY,
                               entity_ref=username[:64], detail={"source": source_key(source)}))


def failing_sources(session: Session, username: str, since: datetime) -> int:
    """How many different addresses failed this login since then (this request's included)."""
    session.flush()
    details = session.scalars(
        select(AuditEntry.detail).where(
            AuditEntry.entity == ACCOUNT_ENTITY, AuditEntry.entity_ref == username[:64],
            AuditEntry.action == FAILED, AuditEntry.at >= since))
    return len({str((d or {}).get("source")) for d in details})
