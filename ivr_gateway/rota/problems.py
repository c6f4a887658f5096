"""Refusals of the rota services, with a message a person can act on and the fields at fault.

Shared by the single upserts, the batch loader and the CSV import (one wording everywhere).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # only a type here: `codes now` and the other light commands load no pydantic
    from pydantic import ValidationError

# What an upsert did to a record: with the refusals below, every answer a rota write gives.
Change = Literal["created", "updated", "unchanged"]

# A reference of the rota's (ours or a rostering system's): the schemas use it too.
REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one field of the input (``landlines[0]``, ``planned_end``)."""

    field: str
    message: str


class RotaError(Exception):
    """A refusal with a message a person can act on; ``code`` is the API's error code."""

    code = "rota_error"

    def __init__(self, message: str, fields: Sequence[FieldProblem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.fields = list(fields)


class InvalidRota(RotaError):
    """The input is wrong: see ``fields``. Nothing was stored."""

    code = "validation_error"

    @classmethod
    def of(cls, field_name: str, message: str) -> InvalidRota:
        """One problem with one field."""
        return cls(f"{field_name}: {message}", [FieldProblem(field_name, message)])


class NotFound(RotaError):
    """No record with that reference."""

    code = "not_found"


def field_path(loc: Iterable[int | str]) -> str:
    """('landlines', 0) -> 'landlines[0]'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def problems_from(error: ValidationError) -> list[FieldProblem]:
    """Turn pydantic's errors into field problems worded for a person."""
    problems = []
    for item in error.errors(include_url=False):
        message = item["msg"]
        if item["type"] == "value_error":
            message = str(item.get("ctx", {}).get("error", message))
        elif item["type"] == "missing":
            message = "this field is required"
        elif item["type"] == "extra_forbidden":
            message = "unknown field; check its spelling against the API document"
        elif item["type"] == "string_pattern_mismatch" and "pattern" in item.get("ctx", {}):
            pattern = item["ctx"]["pattern"]
            if pattern == REF_PATTERN:
                message = "a reference is 1-64 letters, digits or . _ : - (no spaces)"
            elif pattern == r"^[0-9]+$":
                message = "digits only"
        problems.append(FieldProblem(field_path(item["loc"]) or "body", message))
    return problems


def invalid_from(error: ValidationError) -> InvalidRota:
    """An InvalidRota carrying every problem pydantic found."""
    problems = problems_from(error)
    summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return InvalidRota(f"The request is not valid: {summary}{more}", problems)


def check_ref(ref: str) -> str:
    """A reference from a URL or a file, or InvalidRota naming the field ``ref``."""
    ref = ref.strip()
    if not re.fullmatch(REF_PATTERN, ref):
        raise InvalidRota.of("ref", "a reference is 1-64 letters, digits or . _ : - (no spaces)")
    return ref
