"""Office logins: argon2id passwords, lockout after repeated failures, sessions, roles, CSRF.

Passwords use argon2-cffi's default parameters (RFC 9106's low-memory profile: 64 MiB, 3 passes),
not the light PIN setting: a password has no pepper carrying the weight, and a login is rare.

CSRF: one random token per session, sent in every form as ``csrf_token`` (or the
``X-CSRF-Token`` header for scripts) and compared in constant time before any POST in the office
blueprint is handled. This is the synchroniser-token pattern that Flask-WTF's CSRFProtect also
implements; done here it guards the office blueprint only, so the Twilio webhooks and the bearer
API (which carry no cookies) need no exemptions, and no dependency is added.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, wraps
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, g, redirect, request, session, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.models import AuditEntry
from ivr_gateway.office import login_throttle
from ivr_gateway.office.models import OfficeRole, OfficeUser

LOCKOUT_FAILURES = 5  # wrong passwords, from several addresses (login_throttle) ...
LOCKOUT_WINDOW = timedelta(minutes=15)  # ... within this time ...
LOCKOUT_FOR = timedelta(minutes=15)  # ... lock the login for this long
MIN_PASSWORD_LENGTH = 12
WRONG = "Wrong username or password."

_password_hasher = PasswordHasher()

@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so a wrong name costs as long as a wrong
    password. Made on first use, not at import: hashing takes a tenth of a second, which every
    CLI command importing this module would pay."""
    return _password_hasher.hash(secrets.token_urlsafe(16))


F = TypeVar("F", bound=Callable[..., Any])


class LoginRefused(Exception):
    """A login that did not succeed; the message is what the person is shown."""


def hash_password(password: str) -> str:
    """An argon2id hash of an office password, for storage."""
    return _password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches the stored hash."""
    try:
        return _password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str, username: str) -> str | None:
    """What is wrong with a new password, or None when it will do."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must be at least {MIN_PASSWORD_LENGTH} characters"
    if username.lower() in password.lower():
        return "the password must not contain the username"
    if len(set(password)) < 5:
        return "the password repeats too few characters; choose a longer phrase"
    return None


def authenticate(session: Session, username: str, password: str, now: datetime,
                 tz: ZoneInfo, source: str = "unknown") -> OfficeUser:
    """The user whose password this is, or LoginRefused; throttles guessing (login_throttle).

    Unknown names, inactive users and wrong passwords get the same answer after the same argon2
    work, so the form does not tell which usernames exist. A lock is said only to someone who
    gave the right password. Wrong logins count against the source address (which is stopped
    after a few) and against the login, which is locked for 15 minutes only when its failures
    come from several addresses; a lock never ends anyone's live sessions.
    """
    if login_throttle.source_is_throttled(session, source, now):
        raise LoginRefused(f"Too many wrong logins from this network. Wait "
                           f"{int(login_throttle.WINDOW.total_seconds() // 60)} minutes and "
                           "try again, or ask an administrator.")
    name = username.strip().lower()
    user = None
    if name and "\x00" not in name and len(name) <= 64:  # PostgreSQL refuses a NUL in text
        user = session.scalar(select(OfficeUser).where(OfficeUser.username == name)
                              .with_for_update())
    if user is None or not user.active:
        verify_password(_dummy_hash(), password)
        login_throttle.record_failure(session, source, now, None)
        raise LoginRefused(WRONG)
    if not verify_password(user.password_hash, password):
        if user.first_failed_at is None or now - user.first_failed_at > LOCKOUT_WINDOW:
            user.first_failed_at = now
            user.failed_logins = 0
        user.failed_logins += 1
        login_throttle.record_failure(session, source, now, user.username)
        sources = login_throttle.failing_sources(session, user.username, user.first_failed_at)
        if (user.failed_logins >= LOCKOUT_FAILURES
                and sources >= login_throttle.ACCOUNT_LOCK_SOURCES
                and (user.locked_until is None or user.locked_until <= now)):
            user.locked_until = now + LOCKOUT_FOR
            session.add(AuditEntry(at=now, actor="office", action="lock", entity="office_user",
                                   entity_ref=user.username,
                                   detail={"failed_logins": user.failed_logins,
                                           "sources": sources}))
        raise LoginRefused(WRONG)
    if user.locked_until is not None and user.locked_until > now:
        local = user.locked_until.astimezone(tz).strftime("%H:%M")
        raise LoginRefused(f"This login is locked after wrong passwords from several places. "
                           f"Try again after {local}, or ask an administrator to unlock it.")
    if _password_hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.first_failed_at = None
    user.locked_until = None
    user.last_login_at = now
    return user


# ------------------------------------------------------------------ sessions and CSRF

@dataclass(frozen=True)
class CurrentUser:
    """Who is logged in, as the views need it."""

    id: int
    username: str
    display_name: str
    role: OfficeRole
    must_change_password: bool = False

    @property
    def actor(self) -> str:
        """How this user appears in the audit log."""
        return f"office:{self.username}"

    def can(self, role: OfficeRole) -> bool:
        """True when this user has at least that role."""
        return self.role.rank >= role.rank


def start_session(user: OfficeUser) -> None:
    """Log the user in: a fresh session (no fixation), a new CSRF token."""
    session.clear()
    session.permanent = True
    session["office_user_id"] = user.id
    session["office_epoch"] = user.session_epoch
    session["csrf_token"] = secrets.token_urlsafe(32)


def load_current_user(db: Session) -> CurrentUser | None:
    """The logged-in user from the session cookie, or None (unknown, inactive or logged out)."""
    user_id = session.get("office_user_id")
    if not isinstance(user_id, int):
        return None
    user = db.get(OfficeUser, user_id)
    if user is None or not user.active or user.session_epoch != session.get("office_epoch"):
        session.pop("office_user_id", None)
        return None
    return CurrentUser(user.id, user.username, user.display_name or user.username, user.role,
                       user.must_change_password)


def csrf_token() -> str:
    """This session's CSRF token (made on first use, so the login form has one too)."""
    token = session.get("csrf_token")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf_token"] = token
    return token


def csrf_ok() -> bool:
    """True when the request carries this session's CSRF token."""
    expected = session.get("csrf_token")
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), given.encode())


def current_user() -> CurrentUser:
    """The logged-in user of this request (only inside a view that requires a login)."""
    return cast(CurrentUser, g.office_user)


# Who may do what, as the refusal says it.
_ROLE_WORDS = {OfficeRole.COORDINATOR: "a coordinator", OfficeRole.MANAGER: "a manager",
               OfficeRole.ADMINISTRATOR: "an administrator"}
_NEEDED_WORDS = {OfficeRole.COORDINATOR: "an office login",
                 OfficeRole.MANAGER: "a manager or an administrator",
                 OfficeRole.ADMINISTRATOR: "an administrator"}


def role_refusal(user: CurrentUser, needed: OfficeRole) -> str:
    """Why a logged-in user may not do this: who they are, and which role it needs."""
    return (f"You are logged in as {user.display_name or user.username} ({user.username}), "
            f"{_ROLE_WORDS[user.role]}: only {_NEEDED_WORDS[needed]} can do this. Ask an "
            "administrator if you need it, or log in as someone who may.")


def requires(role: OfficeRole) -> Callable[[F], F]:
    """A view decorator: a login is needed, and at least this role (403 saying so otherwise)."""
    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = g.get("office_user")
            if user is None:
                return redirect(url_for("office.login", next=request.full_path))
            if not user.can(role):
                abort(403, description=role_refusal(user, role))
            return view(*args, **kwargs)
        return cast(F, wrapper)
    return decorate

