"""Texts while the database is down: kept on disk, answered truthfully, replayed in order later.

The webhook (and Twilio's fallback URL, which always spools) writes the text as Twilio posted it
(sender, body, the time it arrived, the whole form) to the outage spool (telephony/spool.py) and
answers "Noted at 07:02. The office will confirm.": no name and no claim the code was right, as
nothing could be checked. The replay hands the text to the normal TextService inside the replay's
transaction, as at the time it arrived: the same code checks, rate limits and matching, its reply
kept as evidence (not sent: the carer was told the office would confirm), and a "recorded during
an outage" note on the text and its log event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.sms.models import InboundText, TextStatus
from ivr_gateway.sms.replies import DEFAULT_LANGUAGE, render
from ivr_gateway.sms.texts import TextAnswer, TextMessage, TextService, clock_time
from ivr_gateway.telephony.spool import Replayed, Spool, SpoolError, SpoolItem

# What became of a replayed text, for the replay log: a log event, the office's queue of texts
# from unknown mobiles already (unmatched), nothing to log (help, STOP, ACK), or refused.
_DONE = frozenset({TextStatus.HELP, TextStatus.ACK, TextStatus.OPTED_OUT, TextStatus.OPTED_IN})


def spool_text(spool: Spool, settings: Settings, message: TextMessage, now: datetime
               ) -> TextAnswer | None:
    """Keep the text on disk and word the reply; None when the disk would not take it."""
    try:
        spool.put("text", message.message_sid, now, {
            "from": message.from_number, "to": message.to_number, "body": message.body,
            "form": dict(message.form)}, now)
    except SpoolError:
        return None
    return TextAnswer(render(DEFAULT_LANGUAGE, "noted", time=clock_time(now, settings)),
                      TextStatus.FAULT)


def text_spooler(spool: Spool, settings: Settings
                 ) -> Callable[[TextMessage, datetime], TextAnswer | None]:
    """The TextService's on_unreachable: spool the text."""
    return lambda message, now: spool_text(spool, settings, message, now)


def replay_text(session: Session, item: SpoolItem, settings: Settings, database: Database,
                note: str) -> Replayed:
    """Act on a spooled text as at the time it arrived, with every check a text gets."""
    fields = item.fields
    from_number = str(fields.get("from", ""))
    if session.scalar(select(InboundText.id).where(InboundText.message_sid == item.sid)
                      ) is not None:
        return Replayed("duplicate", "this text was recorded already (Twilio sent it again "
                        "once the database was back)", from_number=from_number[:32])
    message = TextMessage(message_sid=item.sid, from_number=from_number,
                          to_number=str(fields.get("to", "")), body=str(fields.get("body", "")),
                          form={str(k): str(v) for k, v in dict(fields.get("form", {})).items()},
                          outage_note=note)
    answer = TextService(database, settings).handle_in(session, message, item.at)
    row = session.scalar(select(InboundText).where(InboundText.message_sid == item.sid))
    detail = row.detail if row is not None and row.detail else answer.reply
    log_event_id = row.log_event_id if row is not None else None
    if row is not None:
        row.detail = (f"{row.detail}; " if row.detail else "") + note
    at = clock_time(item.at, settings)
    if answer.status == TextStatus.LOGGED:
        return Replayed("logged", f"{detail} at {at}", log_event_id=log_event_id,
                        from_number=from_number[:32])
    if answer.status == TextStatus.UNREGISTERED:
        return Replayed("unmatched", detail, from_number=from_number[:32])
    if answer.status in _DONE:
        return Replayed("done", answer.status.value, from_number=from_number[:32])
    why = answer.status.value.replace("_", " ")
    return Replayed("refused", f"text “{message.body[:60]}”: {why}"
                    + (f" ({detail})" if detail else ""), from_number=from_number[:32])
