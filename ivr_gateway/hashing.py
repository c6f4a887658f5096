"""Secrets we keep only as hashes: carers' PINs (peppered argon2id) and API tokens (SHA-256).

Why a pepper: a 4-digit PIN has 10,000 values, so no hash cost protects a leaked PIN hash on its
own (at 20 ms a guess, one core tries them all in 200 s). What does protect it is a secret that
is not in the database: PINs are keyed with HMAC-SHA256 under PIN_PEPPER (kept in the
environment) before argon2id. With the pepper carrying the weight, argon2id runs at a light
setting (2 MiB, 1 pass: about 1 ms), which keeps the PIN step fast for a carer on the phone and
leaves the web workers' CPU for the calls. Online guessing is stopped by the lockout, not the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_pin_hasher = PasswordHasher(time_cost=1, memory_cost=2048, parallelism=1)


def peppered(pin: str, pepper: str) -> str:
    """HMAC-SHA256 of the PIN under the pepper: what argon2id hashes."""
    return hmac.new(pepper.encode("utf-8"), pin.encode("utf-8"), hashlib.sha256).hexdigest()


def hash_pin(pin: str, pepper: str) -> str:
    """Hash a PIN for storage, keyed by the pepper."""
    return _pin_hasher.hash(peppered(pin, pepper))


def verify_pin(pin_hash: str | None, pin: str, pepper: str) -> bool:
    """True when the PIN matches the stored hash under this pepper; a missing hash never matches."""
    if not pin_hash:
        return False
    try:
        return _pin_hasher.verify(pin_hash, peppered(pin, pepper))
    except (VerificationError, InvalidHashError):
        return False


def verify_peppered_pin(pin_hash: str | None, pin_key: str) -> bool:
    """verify_pin for a PIN already keyed with the pepper (`peppered`): what the outage spool
    keeps, so a replay checks the PIN against the stored hash without the clear PIN."""
    if not pin_hash or not pin_key:
        return False
    try:
        return _pin_hasher.verify(pin_hash, pin_key)
    except (VerificationError, InvalidHashError):
        return False


def new_api_token() -> str:
    """A new random bearer token (shown once, then only its hash is kept)."""
    return "ivr_" + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    """SHA-256 of a token: enough for 256-bit random secrets, and fast to look up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
