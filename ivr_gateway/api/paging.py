"""Pages of every list in /api/v1: ?limit= and an opaque ?cursor= taken from next_cursor.

Each list has a stable order on a unique key (a visit's planned start and ref, a text's time and
SID, an alert's id, ...). A cursor holds the key of the last item given and the query it belongs
to, so the next page starts strictly after it: walking the pages gives every item once, even if
items are added meanwhile (a new one lands on a later page, or, sorting earlier, on none). A
cursor from another query (another day, another filter) is refused rather than misread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import request

from ivr_gateway.rota.problems import InvalidRota

MAX_PAGE_SIZE = 1000
T = TypeVar("T")
Key = tuple[Any, ...]


@dataclass(frozen=True)
class PageRequest:
    """The page asked for: after which key (None: the first page), and how many items."""

    after: Key | None
    limit: int
    scope: str


def _scope() -> str:
    # The endpoint and its filters (every query value but the cursor and the limit).
    filters = sorted((k, v) for k, v in request.args.items(multi=True)
                     if k not in ("cursor", "limit"))
    raw = json.dumps([request.path, filters])
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def page_request() -> PageRequest:
    """?limit= (1 to MAX_PAGE_SIZE, default MAX_PAGE_SIZE) and ?cursor=, or a 422 naming them."""
    raw_limit = request.args.get("limit", str(MAX_PAGE_SIZE))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE_SIZE:
        raise InvalidRota.of("limit", f"give a page size from 1 to {MAX_PAGE_SIZE}, not "
                             f"{raw_limit[:20]!r}")
    scope = _scope()
    raw = request.args.get("cursor")
    if not raw:
        return PageRequest(None, int(raw_limit), scope)
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        ok = isinstance(data, dict) and isinstance(data.get("k"), list)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        ok = False
    if not ok:
        raise InvalidRota.of("cursor", "this is not a cursor the gateway gave out; copy "
                             "next_cursor whole, or start again without a cursor")
    if data.get("s") != scope:
        raise InvalidRota.of("cursor", "this cursor belongs to another query (another day or "
                             "filter); keep the query the same while following next_cursor")
    return PageRequest(tuple(data["k"]), int(raw_limit), scope)


def cursor_after(key: Key, scope: str) -> str:
    """The opaque cursor for the page after the item with this key."""
    raw = json.dumps({"s": scope, "k": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def paged(items: Sequence[T], key: Callable[[T], Key],
          page: PageRequest) -> tuple[list[T], str | None]:
    """One page of the items in key order, and the next page's cursor (None: the last page)."""
    ordered = sorted(items, key=key)
    if page.after is not None:
        after = _comparable(page.after)
        try:
            ordered = [item for item in ordered if _comparable(key(item)) > after]
        except TypeError:
            raise InvalidRota.of("cursor", "this is not a cursor of this list; start again "
                                 "without it") from None
    chosen = ordered[:page.limit]
    more = len(ordered) > page.limit
    return chosen, cursor_after(key(chosen[-1]), page.scope) if more and chosen else None


def _comparable(key: Key) -> Key:
    # A key read back from JSON has lists where tuples were; compare like with like.
    return tuple(tuple(part) if isinstance(part, list) else part for part in key)
