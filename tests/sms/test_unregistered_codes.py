"""A code texted from an unregistered mobile: kept as evidence, masked, and no longer usable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.models import LogEvent
from ivr_gateway.sms.codes import sheet_code_hash
from ivr_gateway.sms.models import InboundText, SheetCode, TextStatus
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import count, rows
from tests.sms.texting import add_sheet, text
from tests.twilio_client import TwilioClient

AMY = "+447911123450"
STRANGER = "+447700900123"
NINE = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


def test_a_live_sheet_code_from_an_unregistered_mobile_is_masked_and_spent(
        twilio: TwilioClient, session: Session, clock: FixedClock) -> None:
    adult = make_adult(session, given_name="Joan", family_name="Smith", landlines=())
    amy = make_care_worker(session, mobiles=(AMY,))
    make_planned_visit(session, adult, [amy], start=NINE, minutes=30)
    sheet = add_sheet(session, adult, NINE - timedelta(days=1))
    session.commit()
    clock.set(NINE + timedelta(minutes=1))
    code = sheet.codes[0]
    reply = text(twilio, STRANGER, f"IN {code}")
    assert reply.text.startswith("This mobile is not registered to log visits.")
    session.expire_all()
    stored = rows(session, InboundText)[-1]
    assert stored.status == TextStatus.UNREGISTERED and stored.needs_office
    assert code not in stored.body and stored.body == "IN ********"
    assert code not in str(stored.raw)
    assert stored.raw["code_hash"] == sheet_code_hash(code, twilio_settings_key())
    assert "now spent so it cannot be used" in stored.detail
    [spent] = rows(session, SheetCode, SheetCode.used_at.is_not(None))
    assert spent.position == 1 and spent.inbound_text_id == stored.id
    # The carer with the sheet can no longer use that code; the next one still works.
    assert not text(twilio, AMY, f"IN {code}").text.startswith("Logged in")
    assert count(session, LogEvent) == 0
    assert text(twilio, AMY, f"IN {sheet.codes[1]}").text.startswith("Logged in")


def test_a_token_code_from_an_unregistered_mobile_is_masked(
        twilio: TwilioClient, session: Session) -> None:
    text(twilio, STRANGER, "IN 123456")
    stored = rows(session, InboundText)[-1]
    assert stored.body == "IN ******" and stored.raw["Body"] == "IN ******"
    assert "the digits are masked" in stored.detail


def twilio_settings_key() -> str:
    """The local TOKEN_SECRET_KEY the test app runs on."""
    from ivr_gateway.config import DEV_TOKEN_SECRET_KEY

    return DEV_TOKEN_SECRET_KEY
