"""A code texted from a mobile no carer has registered: kept as evidence, but not in clear, and
no longer usable.

Such a text proves nothing about who is in the client's home, yet a live sheet code in it is a
secret of that home: stored in clear, anyone reading the texts list (or a leaked database) could
use it, and the code would still log a visit later. So the digits are masked in the stored body
and raw fields (a sheet-shaped code is kept as its keyed hash, which the office can still match
against a sheet), and a live sheet code is spent, marked as used by this text, like a code used
twice. The office sees the text in its review list and can print a new sheet if needed.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.sms.codes import is_sheet_code_shape, sheet_code_hash
from ivr_gateway.sms.models import CodeSheet, InboundText, SheetCode
from ivr_gateway.sms.parsing import LogCommand, MistypedCode, TextCommand

_DIGIT = re.compile(r"\d")


def masked(text: str) -> str:
    """The text with every digit replaced by '*'."""
    return _DIGIT.sub("*", text)


def withhold_code(session: Session, row: InboundText, command: TextCommand, now: datetime,
                  settings: Settings) -> str:
    """Mask the code of an unregistered sender's text and void it if it is a live sheet code.

    Returns what to add to the text's detail for the office ("" when the text held no code).
    """
    if not isinstance(command, LogCommand | MistypedCode):
        return ""
    code = command.code if isinstance(command, LogCommand) else command.digits
    row.body = masked(row.body)
    row.raw = {**row.raw, **({"Body": masked(row.raw["Body"])} if "Body" in row.raw else {})}
    session.execute(update(InboundText).where(InboundText.id == row.id)
                    .values(body=row.body))
    if not is_sheet_code_shape(code):
        return "; the digits are masked"
    digest = sheet_code_hash(code, settings.token_secret_key)
    row.raw["code_hash"] = digest
    live = session.execute(
        select(SheetCode.id, SheetCode.position, CodeSheet.sheet_number)
        .join(CodeSheet, CodeSheet.id == SheetCode.sheet_id)
        .where(SheetCode.code_hash == digest, SheetCode.used_at.is_(None),
               CodeSheet.retired_at.is_(None))
        .with_for_update(of=SheetCode)).first()
    if live is None:
        return "; the digits are masked (kept as the sheet-code hash)"
    session.execute(update(SheetCode).where(SheetCode.id == live.id, SheetCode.used_at.is_(None))
                    .values(used_at=now, inbound_text_id=row.id))
    return (f"; it was live code {live.position} of sheet {live.sheet_number}, now spent so it "
            "cannot be used; the digits are masked")
