"""Visit codes: TOTP tokens (RFC 6238) and printed code sheets, and the false-acceptance bound.

The bound (docs/sms.md has the arithmetic): a text is one attempt, and one attempt compares the
code with at most a fixed number of candidate codes, each a guess with a chance of 1 in 10^d of
being right (d digits of the code that a guesser must get right). Every comparison spends
10^-d from a budget of FALSE_ACCEPTANCE_BOUND per attempt, and the verifier stops comparing
when the budget is spent, so no text, whatever the rota, has a better chance than 1 in 100,000.

Plain maths over plain values, importing no database code: `codes now` reads its token through
the driver (sms/code_now.py) and must not pay for SQLAlchemy's start-up to use it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from cryptography.fernet import Fernet, InvalidToken

FALSE_ACCEPTANCE_BOUND = 1e-5  # per attempt: at most 1 in 100,000 (issue 4, "Safety")

# Tokens: the codes shown one step either side of the token's learnt clock are accepted now.
TOKEN_WINDOW_STEPS = 1
TOKEN_DIGITS = (6, 8)  # what fobs on the market show; RFC 6238's vectors are 8 digits
TOKEN_STEPS = (30, 60)
MAX_DRIFT_STEPS = 10  # a token further off than this needs the office to re-sync it

# Sheets: 7 random digits and a Damm check digit. A guesser who knows the check-digit rule
# still has 10^7 codes to choose from, so each comparison costs 10^-7.
SHEET_CODE_RANDOM_DIGITS = 7
SHEET_CODE_LENGTH = SHEET_CODE_RANDOM_DIGITS + 1
SHEET_WINDOW = 10  # only the first 10 unused codes of a sheet are live ("use them in order")
SHEET_CODES_DEFAULT = 60
SHEET_CODES_MAX = 120

# Rate limits (wrong codes in a rolling window): a sender, and a client's code devices.
FAILURE_WINDOW = timedelta(minutes=15)
SENDER_FAILURE_LIMIT = 5
CLIENT_FAILURE_LIMIT = 10


def guess_cost(digits: int) -> float:
    """The chance that one guessed code equals one candidate code of `digits` digits."""
    return 10.0 ** -digits


def max_comparisons(cost: float) -> int:
    """How many candidate codes of this cost one attempt may compare with."""
    return int(FALSE_ACCEPTANCE_BOUND / cost + 1e-9)


class GuessBudget:
    """What one attempt may still compare: spent per candidate code, never overdrawn."""

    def __init__(self, bound: float = FALSE_ACCEPTANCE_BOUND) -> None:
        self.remaining = bound
        self.spent = 0.0

    def take(self, cost: float) -> bool:
        """Spend the cost of one comparison; False (and nothing spent) when it does not fit."""
        # A relative tolerance so that 10 comparisons of 1e-6 fit in 1e-5 despite rounding.
        if cost > self.remaining * (1 + 1e-9):
            return False
        self.remaining -= cost
        self.spent += cost
        return True


# --- secrets at rest -------------------------------------------------------------------------


def _fernet(key_setting: str) -> Fernet:
    # Fernet wants 32 url-safe base64 bytes; derive them from the setting (any length).
    digest = hashlib.sha256(b"ivr-gateway token secrets\x00" + key_setting.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(secret_b32: str, key_setting: str) -> str:
    """Encrypt a token's base32 secret for storage (Fernet: AES-128-CBC with HMAC-SHA256)."""
    return _fernet(key_setting).encrypt(secret_b32.encode("ascii")).decode("ascii")


class SecretKeyMismatch(RuntimeError):
    """A stored secret does not decrypt under TOKEN_SECRET_KEY (the key was changed)."""


def decrypt_secret(stored: str, key_setting: str) -> str:
    """The base32 secret of a token, or SecretKeyMismatch."""
    try:
        return _fernet(key_setting).decrypt(stored.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SecretKeyMismatch("a token secret does not decrypt: TOKEN_SECRET_KEY is not the "
                                "key the tokens were registered under") from None


def normalise_secret(raw: str) -> str:
    """A base32 secret as vendors print it (spaces, lower case, no padding) -> canonical."""
    secret = "".join(raw.split()).upper().rstrip("=")
    if not secret:
        raise ValueError("the secret is empty")
    try:
        base64.b32decode(secret + "=" * (-len(secret) % 8))
    except Exception:
        raise ValueError("the secret is not base32 (letters A-Z and digits 2-7)") from None
    if len(secret) < 16:
        raise ValueError("the secret is too short: at least 16 base32 characters (80 bits)")
    return secret


# --- TOTP -------------------------------------------------------------------------------------


def time_step(at: datetime, step_seconds: int) -> int:
    """RFC 6238's T: whole steps since the Unix epoch."""
    return int(at.timestamp()) // step_seconds


def step_start(step: int, step_seconds: int) -> datetime:
    """The instant a time step begins."""
    return datetime.fromtimestamp(step * step_seconds, tz=UTC)


def totp_at_step(secret_b32: str, step: int, digits: int) -> str:
    """The code a token with this secret shows during a time step (HMAC-SHA1, as fobs use)."""
    return str(pyotp.HOTP(secret_b32, digits=digits).at(step))


def codes_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two codes."""
    return hmac.compare_digest(a.encode(), b.encode())


def near_miss(typed: str, code: str) -> bool:
    """One digit wrong, or two neighbouring digits swapped: a mistyped code."""
    if len(typed) != len(code) or typed == code:
        return False
    diffs = [i for i, (x, y) in enumerate(zip(typed, code, strict=True)) if x != y]
    if len(diffs) == 1:
        return True
    return (len(diffs) == 2 and diffs[1] == diffs[0] + 1
            and typed[diffs[0]] == code[diffs[1]] and typed[diffs[1]] == code[diffs[0]])


@dataclass(frozen=True)
class CurrentCode:
    """The code a token shows now, and for how many more seconds."""

    serial: str
    code: str
    seconds_left: int
    adult_initials: str | None


def code_shown_now(serial: str, secret_encrypted: str, *, digits: int, step_seconds: int,
                   drift_steps: int, adult_initials: str | None, key_setting: str,
                   now: datetime) -> CurrentCode:
    """What a stored token shows at `now`: our clock corrected by its learnt drift.

    The one reckoning for both ways `codes now` reads a token (sms/devices.py through the ORM,
    sms/code_now.py through the driver), so the two cannot disagree.
    """
    secret = decrypt_secret(secret_encrypted, key_setting)
    step = time_step(now, step_seconds) + drift_steps
    left = step_seconds - int(now.timestamp()) % step_seconds
    return CurrentCode(serial, totp_at_step(secret, step, digits), left, adult_initials)


@dataclass(frozen=True)
class TokenMatch:
    """Which step of a token's codes a text carried."""

    step: int
    late: bool  # an earlier step than the current window: the code was shown earlier


# --- code sheets ------------------------------------------------------------------------------

# The Damm check digit (H. M. Damm, 2004): catches every single-digit error and every swap of
# two adjacent digits, the two mistakes people make copying a code.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm_digit(digits: str) -> str:
    """The Damm check digit of a string of digits."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return str(interim)


def damm_valid(code: str) -> bool:
    """True when the last digit is the Damm check digit of the others."""
    return len(code) >= 2 and code.isdigit() and damm_digit(code[:-1]) == code[-1]


def new_sheet_code() -> str:
    """A random sheet code: 7 random digits and their Damm check digit."""
    body = "".join(secrets.choice("0123456789") for _ in range(SHEET_CODE_RANDOM_DIGITS))
    return body + damm_digit(body)


def sheet_code_hash(code: str, key_setting: str) -> str:
    """What is stored of a sheet code: HMAC-SHA256 under a key derived from TOKEN_SECRET_KEY.

    Keyed, because 10^7 codes are quickly hashed: without the key a stolen database does not
    give the codes away.
    """
    key = hashlib.sha256(b"ivr-gateway sheet codes\x00" + key_setting.encode()).digest()
    return hmac.new(key, code.encode("ascii"), hashlib.sha256).hexdigest()


def is_sheet_code_shape(code: str) -> bool:
    """8 digits whose last is the Damm check digit of the first 7."""
    return len(code) == SHEET_CODE_LENGTH and damm_valid(code)


def format_sheet_code(code: str) -> str:
    """'12345678' -> '1234 5678', as printed."""
    return f"{code[:4]} {code[4:]}"
