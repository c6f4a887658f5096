"""The SMS capability as the office dashboard's code source: tokens and code sheets per client.

Kept with the dashboard that defines the CodeSource port (office/providers.py), so sms never
imports the office (it was sms/office_codes.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.models import Adult
from ivr_gateway.office.providers import CodeDevice
from ivr_gateway.sms.codes import SHEET_CODES_DEFAULT
from ivr_gateway.sms.devices import new_code_sheet
from ivr_gateway.sms.models import CodeSheet, SheetCode, VisitCodeToken
from ivr_gateway.sms.sheets import sheet_html


class SmsCodeSource:
    """Lists a client's tokens and sheets, and prints a new sheet (retiring the old)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def devices_for_adult(self, session: Session, adult_ref: str) -> list[CodeDevice]:
        """The client's tokens, then its sheets, newest first."""
        adult_id = session.scalar(select(Adult.id).where(Adult.ref == adult_ref))
        if adult_id is None:
            return []
        devices = [
            CodeDevice("token", t.serial, "active" if t.active else "inactive",
                       f"{t.digits} digits every {t.step_seconds} s")
            for t in session.scalars(select(VisitCodeToken)
                                     .where(VisitCodeToken.adult_id == adult_id)
                                     .order_by(VisitCodeToken.serial))]
        used = dict(session.execute(
            select(SheetCode.sheet_id, func.count())
            .where(SheetCode.used_at.is_not(None)).group_by(SheetCode.sheet_id)).all())
        for sheet in session.scalars(select(CodeSheet).where(CodeSheet.adult_id == adult_id)
                                     .order_by(CodeSheet.sheet_number.desc())):
            devices.append(CodeDevice(
                "sheet", str(sheet.sheet_number), "retired" if sheet.retired_at else "active",
                f"{used.get(sheet.id, 0)} of {sheet.code_count} codes used"))
        return devices

    def code_sheet_html(self, session: Session, adult_ref: str, actor: str, now: datetime
                        ) -> str:
        """A new sheet for the client as a printable page; the old sheets retire."""
        sheet = new_code_sheet(session, adult_ref, count=SHEET_CODES_DEFAULT,
                               settings=self.settings, now=now, actor=actor)
        return sheet_html(sheet, self.settings, self.settings.twilio_phone_number)
