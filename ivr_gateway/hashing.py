"""Secrets we keep only as hashes: carers' PINs (argon2id) and API tokens (SHA-256)."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id with modest memory: a PIN check runs on every call, inside Twilio's 15 s timeout, on a
# small web worker. 19 MiB / 2 passes is OWASP's minimum recommended argon2id configuration.
_pin_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_pin(pin: str) -> str:
    """Hash a PIN for storage."""
    return _pin_hasher.hash(pin)


def verify_pin(pin_hash: str | None, pin: str) -> bool:
    """True when the PIN matches the stored hash; a missing hash never matches."""
    if not pin_hash:
        return False
    try:
        return _pin_hasher.verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False


def new_api_token() -> str:
    """A new random bearer token (shown once, then only its hash is kept)."""
    return "ivr_" + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    """SHA-256 of a token: enough for 256-bit random secrets, and fast to look up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
