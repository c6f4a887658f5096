"""Standard Webhooks signatures (https://www.standardwebhooks.com, spec "Signature scheme").

Our own small code (the tests check it against the `standardwebhooks` library): the signed
content is "{webhook-id}.{webhook-timestamp}.{body}", HMAC-SHA256 with the secret's key (the
base64 after "whsec_"), sent base64 in `webhook-signature` as "v1,<signature>".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a secret
TOLERANCE_SECONDS = 5 * 60  # the spec's suggested window against replays


class InvalidSignature(ValueError):
    """The request was not signed with the subscription's secret (or is too old)."""


def new_secret() -> str:
    """A new secret: 'whsec_' and 32 random bytes in base64 (the spec allows 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _fernet(key_setting: str) -> Fernet:
    # Fernet wants 32 url-safe base64 bytes; derived from TOKEN_SECRET_KEY with a label of
    # its own, so a webhook secret and a visit-code token secret never share a key.
    digest = hashlib.sha256(b"ivr-gateway webhook secrets\x00" + key_setting.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal_secret(secret: str, key_setting: str) -> str:
    """A subscription's secret as stored: encrypted under TOKEN_SECRET_KEY (a copy of the
    database alone cannot forge deliveries)."""
    return _fernet(key_setting).encrypt(secret.encode()).decode("ascii")


def open_secret(stored: str, key_setting: str) -> str:
    """The secret of a stored subscription; ValueError if TOKEN_SECRET_KEY changed since."""
    try:
        return _fernet(key_setting).decrypt(stored.encode("ascii")).decode()
    except InvalidToken:
        raise ValueError("a webhook secret does not decrypt: TOKEN_SECRET_KEY is not the key "
                         "the subscription was made under; remove and add it again") from None


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header's value for this delivery."""
    content = f"{webhook_id}.{timestamp}.{body}".encode()
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, webhook_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three headers of a signed delivery, and its content type."""
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, webhook_id, timestamp, body),
            "content-type": "application/json"}


def verify(secret: str, headers: dict[str, str], body: str, now: int) -> None:
    """Check a delivery's signature and age (what a receiver does); InvalidSignature if not."""
    lowered = {k.lower(): v for k, v in headers.items()}
    webhook_id = lowered.get("webhook-id", "")
    timestamp = lowered.get("webhook-timestamp", "")
    if not webhook_id or not timestamp.isdigit():
        raise InvalidSignature("missing webhook-id or webhook-timestamp")
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise InvalidSignature("webhook-timestamp is more than 5 minutes from now")
    expected = sign(secret, webhook_id, int(timestamp), body).split(",", 1)[1]
    for candidate in lowered.get("webhook-signature", "").split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return
    raise InvalidSignature("no v1 signature matches")
