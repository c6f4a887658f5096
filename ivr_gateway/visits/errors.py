"""The refusal a person can act on: raised by a domain rule, spoken, texted or shown at the edge."""

from __future__ import annotations


class ActionRefused(Exception):
    """An action on a visit that cannot be done; the message says what to do instead."""
