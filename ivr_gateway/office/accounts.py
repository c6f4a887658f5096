"""Office users: create, unlock, role, deactivate / reactivate, password reset.

The one service for changes to office users: the dashboard's "Office users" page and the CLI
(`ivr-gateway user ...`) both call these, so a change made on the page and one made at the
command line are checked and audited the same way.

Two rules keep the dashboard manageable: an administrator cannot deactivate or demote themselves
(they would lock themselves out mid-change), and the last active administrator cannot be
deactivated or demoted (nobody could then manage users or API tokens without the CLI). The check
locks the active administrators' rows, so two administrators demoting each other at the same
moment cannot both succeed on PostgreSQL.

Deactivating, demoting or resetting a password raises the user's session_epoch: every session
they have open, on any device, stops working at its next request.

A password an administrator sets (new user, reset) is temporary: the administrator knows it, so
the user must replace it (change_own_password) before the dashboard shows them anything else.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.models import AuditEntry
from ivr_gateway.office.auth import hash_password, password_problem, verify_password
from ivr_gateway.office.models import OfficeRole, OfficeUser


def create_office_user(session: Session, username: str, password: str, role: OfficeRole, *,
                       now: datetime, actor: str, display_name: str = "",
                       phone: str | None = None, temporary: bool = True) -> OfficeUser:
    """Create an office user (audited); ValueError says what is wrong with the input.

    The password is temporary by default: whoever chose it knows it, so the user must change it
    at their first login before the dashboard shows anything else.
    """
    username = username.strip().lower()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise ValueError("a username is 1-64 letters, digits or . _ - (no spaces)")
    problem = password_problem(password, username)
    if problem:
        raise ValueError(problem)
    if session.scalar(select(OfficeUser.id).where(OfficeUser.username == username)) is not None:
        raise ValueError(f"there is already an office user called {username!r}")
    user = OfficeUser(username=username, display_name=display_name or username,
                      password_hash=hash_password(password), role=role, phone=phone, active=True,
                      failed_logins=0, session_epoch=0, must_change_password=temporary,
                      created_at=now, updated_at=now)
    session.add(user)
    session.add(AuditEntry(at=now, actor=actor[:100], action="create", entity="office_user",
                           entity_ref=username, detail={"role": role.value}))
    session.flush()
    return user


def list_office_users(session: Session) -> list[OfficeUser]:
    """Every office user, active or not, by username."""
    return list(session.scalars(select(OfficeUser).order_by(OfficeUser.username)))


def read_office_user(session: Session, username: str) -> OfficeUser:
    """The office user with this username, for a page (no lock); LookupError if none."""
    user = session.scalar(select(OfficeUser).where(OfficeUser.username == username))
    if user is None:
        raise LookupError(f"there is no office user called {username!r}")
    return user


def end_every_session(session: Session, user_id: int) -> None:
    """Log a user out on every device (their sessions carry an epoch that no longer fits)."""
    user = session.get(OfficeUser, user_id)
    if user is not None:
        user.session_epoch += 1


def find_office_user(session: Session, username: str) -> OfficeUser:
    """The office user with this username, or LookupError naming it."""
    user = session.scalar(select(OfficeUser).where(OfficeUser.username == username.strip().lower())
                          .with_for_update())
    if user is None:
        raise LookupError(f"there is no office user called {username!r}")
    return user


def unlock_office_user(session: Session, username: str, *, now: datetime, actor: str) -> bool:
    """Lift a login lockout; False when the user was not locked. Raises LookupError if unknown."""
    user = find_office_user(session, username)
    if user.locked_until is None and not user.failed_logins:
        return False
    user.locked_until = None
    user.failed_logins = 0
    user.first_failed_at = None
    user.updated_at = now
    session.add(AuditEntry(at=now, actor=actor[:100], action="unlock", entity="office_user",
                           entity_ref=user.username, detail={}))
    return True


def _check_not_self(user: OfficeUser, acting_username: str | None, what: str) -> None:
    if acting_username is not None and user.username == acting_username.strip().lower():
        raise ValueError(f"you cannot {what} yourself; ask another administrator to do it")


def is_last_active_administrator(session: Session, user: OfficeUser, lock: bool = False
                                 ) -> bool:
    """True when the user is the only active administrator (the page says so before anyone
    tries; a change checks it with lock=True, which locks the administrators' rows)."""
    if not (user.active and user.role is OfficeRole.ADMINISTRATOR):
        return False
    query = (select(OfficeUser.id).where(OfficeUser.role == OfficeRole.ADMINISTRATOR,
                                         OfficeUser.active.is_(True), OfficeUser.id != user.id)
             .order_by(OfficeUser.id))
    return not session.scalars(query.with_for_update() if lock else query).first()


def _check_not_last_administrator(session: Session, user: OfficeUser, what: str) -> None:
    """Refuse when the user is the only active administrator."""
    if not is_last_active_administrator(session, user, lock=True):
        return
    raise ValueError(f"{user.username} is the last active administrator, so you cannot {what} "
                     "them; make someone else an administrator first")


def _audit(session: Session, user: OfficeUser, action: str, *, now: datetime, actor: str,
           detail: dict[str, object] | None = None) -> None:
    session.add(AuditEntry(at=now, actor=actor[:100], action=action, entity="office_user",
                           entity_ref=user.username, detail=detail or {}))


def change_office_user_role(session: Session, username: str, role: OfficeRole, *,
                            now: datetime, actor: str,
                            acting_username: str | None = None) -> OfficeUser:
    """Give a user another role (audited); a demotion ends their sessions.

    ValueError when it is the same role, a self-demotion, or would leave no active administrator.
    """
    user = find_office_user(session, username)
    if user.role is role:
        raise ValueError(f"{user.username} is already a {role.value}")
    demotion = role.rank < user.role.rank
    if demotion:
        _check_not_self(user, acting_username, "demote")
        _check_not_last_administrator(session, user, "demote")
        user.session_epoch += 1
    _audit(session, user, "change_role", now=now, actor=actor,
           detail={"role": [user.role.value, role.value]})
    user.role = role
    user.updated_at = now
    return user


def deactivate_office_user(session: Session, username: str, *, now: datetime, actor: str,
                           acting_username: str | None = None) -> OfficeUser:
    """Stop a user logging in and end their sessions (audited); their history stays."""
    user = find_office_user(session, username)
    if not user.active:
        raise ValueError(f"{user.username} is already deactivated")
    _check_not_self(user, acting_username, "deactivate")
    _check_not_last_administrator(session, user, "deactivate")
    user.active = False
    user.session_epoch += 1
    user.updated_at = now
    _audit(session, user, "deactivate", now=now, actor=actor)
    return user


def reactivate_office_user(session: Session, username: str, *, now: datetime,
                           actor: str) -> OfficeUser:
    """Let a deactivated user log in again with their existing password (audited)."""
    user = find_office_user(session, username)
    if user.active:
        raise ValueError(f"{user.username} is already active")
    user.active = True
    user.updated_at = now
    _audit(session, user, "reactivate", now=now, actor=actor)
    return user


def reset_office_user_password(session: Session, username: str, password: str, *,
                               now: datetime, actor: str, temporary: bool = True) -> OfficeUser:
    """Set a new password (same rules as at creation; audited, never logged) and end sessions.

    The password is temporary unless said otherwise: the user must change it at their next login.
    """
    user = find_office_user(session, username)
    problem = password_problem(password, user.username)
    if problem:
        raise ValueError(problem)
    user.password_hash = hash_password(password)
    user.must_change_password = temporary
    user.session_epoch += 1
    user.updated_at = now
    _audit(session, user, "reset_password", now=now, actor=actor,
           detail={"temporary": temporary})
    return user


def change_own_password(session: Session, user_id: int, current: str, new: str, *,
                        now: datetime) -> OfficeUser:
    """A user replaces their own password (audited without it); their other sessions end.

    The current password is asked for so that someone at a screen left logged in cannot take the
    login over. The new one follows the creation rules and must differ from the current one (a
    temporary password kept would stay known to the administrator who chose it). The caller keeps
    the session this was done in by storing the returned user's new session_epoch in it.
    """
    user = session.scalar(select(OfficeUser).where(OfficeUser.id == user_id).with_for_update())
    if user is None or not user.active:
        raise LookupError("this login no longer exists or is deactivated")
    if not verify_password(user.password_hash, current):
        raise ValueError("the current password is wrong; type the password you logged in with")
    problem = password_problem(new, user.username)
    if problem:
        raise ValueError(problem)
    if new == current:
        raise ValueError("the new password must differ from the current one")
    was_temporary = user.must_change_password
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.session_epoch += 1
    user.updated_at = now
    _audit(session, user, "change_password", now=now, actor=f"office:{user.username}",
           detail={"was_temporary": was_temporary})
    return user
