"""The outage spool: carers' calls and texts kept on local disk while the database is down.

DESIGN.md principle 9: a log-in the carer was told was noted is recorded, even if the database
was down at that moment. The voice and SMS webhooks write what they took here when the database
cannot be reached (and Twilio's fallback URLs always do); `ivr-gateway spool replay` and the
scheduler's job replay the items in order once it is back (ivr_gateway/outage/).

One file per item (``call-<CallSid>.json``, ``text-<MessageSid>.json``), written atomically: a
temporary file is written and fsynced, then linked into place (a text: never over an item already
there, so Twilio's repeat changes nothing) or renamed over it (a call: each step rewrites its
item with what was keyed so far), and the directory is fsynced. A crash leaves either the old
item or the new one, never half of one. Files are readable by the gateway's user only: they hold
phone numbers and texts' codes. PINs are never written: only their HMAC under PIN_PEPPER
(hashing.peppered), which is what the stored argon2id hash is a hash of.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KINDS = ("call", "text")
OUTAGE_NOTE = "recorded during an outage"
_SAFE_SID = re.compile(r"[A-Za-z0-9]{1,64}")
FAILED_DIR = "failed"


@dataclass(frozen=True)
class SpoolItem:
    """One spooled call or text: when it happened, and what the carer gave."""

    kind: str  # call | text
    sid: str  # the CallSid or MessageSid
    at: datetime  # when it happened: the call's start, the text's arrival (UTC)
    written_at: datetime
    fields: dict[str, Any]
    path: Path = field(compare=False)

    @property
    def item_id(self) -> str:
        """The item's key in the replay log: once per call or text."""
        return f"{self.kind}:{self.sid}"


@dataclass(frozen=True)
class SpoolDepth:
    """How many items wait, and since when."""

    depth: int
    oldest_at: datetime | None
    unreadable: int = 0

    def oldest_age_seconds(self, now: datetime) -> int | None:
        """Seconds since the oldest waiting item happened."""
        return None if self.oldest_at is None else max(0, int((now - self.oldest_at)
                                                              .total_seconds()))


@dataclass(frozen=True)
class Replayed:
    """What a replay made of an item: logged, refused (for the office), or nothing to log."""

    outcome: str  # logged | refused | unmatched | done | duplicate
    detail: str
    log_event_id: int | None = None
    from_number: str = ""


class SpoolError(OSError):
    """The spool could not be written (disk full, no permission)."""


def _file_name(kind: str, sid: str) -> str:
    # Twilio's SIDs are 34 letters and digits; anything else is hashed, never used as a path.
    safe = sid if _SAFE_SID.fullmatch(sid) else "h" + sha256(sid.encode("utf-8", "replace")
                                                            ).hexdigest()
    return f"{kind}-{safe}.json"


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """The spool directory: put items, list them in order, remove replayed ones."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def put(self, kind: str, sid: str, at: datetime, fields: Mapping[str, Any], now: datetime,
            *, replace: bool = False) -> Path:
        """Write one item durably; `replace` rewrites an item of the same sid (a call's steps).

        Without `replace` an item already there is kept as it was (Twilio's repeat of a text).
        Raises SpoolError when the disk will not take it.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown spool kind {kind!r}")
        body = json.dumps({"version": 1, "kind": kind, "sid": sid,
                           "at": at.astimezone(UTC).isoformat(),
                           "written_at": now.astimezone(UTC).isoformat(),
                           "fields": dict(fields)}, ensure_ascii=False, sort_keys=True)
        final = self.directory / _file_name(kind, sid)
        temporary = self.directory / f".{final.name}.{uuid.uuid4().hex}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, body.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            if replace:
                os.replace(temporary, final)
            else:
                try:
                    os.link(temporary, final)
                except FileExistsError:
                    pass  # the same text again: the first copy stands
                finally:
                    os.unlink(temporary)
            _fsync_directory(self.directory)
        except OSError as error:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise SpoolError(f"could not write {final}: {error}") from error
        return final

    def get(self, kind: str, sid: str) -> SpoolItem | None:
        """The item of this call or text, if it is waiting."""
        path = self.directory / _file_name(kind, sid)
        return _read(path) if path.exists() else None

    def items(self) -> list[SpoolItem]:
        """Every readable item, oldest first (by when it happened, then when written)."""
        found = []
        for path in self._files():
            item = _read(path)
            if item is not None:
                found.append(item)
        return sorted(found, key=lambda i: (i.at, i.written_at, i.item_id))

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [p for p in self.directory.iterdir()
                if p.is_file() and p.suffix == ".json" and not p.name.startswith(".")]

    def mark_call_ended(self, sid: str, now: datetime) -> bool:
        """Note that a spooled call is over (Twilio's status callback said so): its replay need
        not wait for more steps. False when no unfinished item of this call waits here."""
        item = self.get("call", sid) if sid else None
        if item is None or item.fields.get("finished") or item.fields.get("ended"):
            return False
        self.put("call", sid, item.at, {**item.fields, "ended": True}, now, replace=True)
        return True

    def remove(self, item: SpoolItem) -> None:
        """Delete a replayed item (the database has it now)."""
        item.path.unlink(missing_ok=True)
        _fsync_directory(self.directory)

    def set_aside(self, item: SpoolItem) -> Path:
        """Move an item that could not be replayed to failed/, kept for a person to read."""
        target_dir = self.directory / FAILED_DIR
        target_dir.mkdir(exist_ok=True, mode=0o700)
        target = target_dir / item.path.name
        os.replace(item.path, target)
        _fsync_directory(self.directory)
        return target

    def depth(self) -> SpoolDepth:
        """How many items wait and when the oldest happened (for /healthz and `spool status`)."""
        files = self._files()
        items = [i for i in map(_read, files) if i is not None]
        return SpoolDepth(len(items), min((i.at for i in items), default=None),
                          unreadable=len(files) - len(items))


def _read(path: Path) -> SpoolItem | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SpoolItem(kind=str(data["kind"]), sid=str(data["sid"]),
                         at=datetime.fromisoformat(data["at"]),
                         written_at=datetime.fromisoformat(data["written_at"]),
                         fields=dict(data["fields"]), path=path)
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.error("unreadable spool item %s: %s", path, error)
        return None
