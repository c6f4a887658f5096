"""How strong a configured secret is: refuse the guessable ones at start, naming the variable.

A length check alone lets ``"x" * 40`` through. The floor here is an estimate of the secret's
entropy from its own characters (Shannon's formula over the character frequencies, times the
length), plus two plain rules: enough distinct characters, and not one short run repeated.
``python -c 'import secrets; print(secrets.token_urlsafe(32))'`` (about 200 bits by this
estimate) and ``openssl rand -hex 32`` (about 240) pass with a wide margin.
"""

from __future__ import annotations

import math
from collections import Counter

MIN_LENGTH = 32
MIN_DISTINCT = 12
MIN_ESTIMATED_BITS = 128


def estimated_bits(secret: str) -> float:
    """The secret's length times the Shannon entropy of its character frequencies, in bits."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    total = len(secret)
    per_char = -sum(n / total * math.log2(n / total) for n in counts.values())
    return per_char * total


def is_repetition(secret: str) -> bool:
    """True when the secret is a shorter string repeated (``abcabcabc``)."""
    return len(secret) > 1 and secret in (secret + secret)[1:-1]


def secret_weakness(secret: str, *, min_length: int = MIN_LENGTH,
                    min_distinct: int = MIN_DISTINCT,
                    min_bits: float = MIN_ESTIMATED_BITS) -> str | None:
    """What makes this secret guessable, in words for an operator, or None when it will do."""
    if len(secret) < min_length:
        return f"it is {len(secret)} characters long; use at least {min_length} random ones"
    if is_repetition(secret):
        return "it is one short sequence repeated"
    distinct = len(set(secret))
    if distinct < min_distinct:
        return (f"it uses only {distinct} different characters; a random secret of this length "
                f"uses at least {min_distinct}")
    if estimated_bits(secret) < min_bits:
        return "its characters are too predictable (too little entropy)"
    return None
