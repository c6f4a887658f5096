"""Demo data: a small, realistic rota for today, so a newcomer can try a call in a minute."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ivr_gateway.api.tokens import create_api_token
from ivr_gateway.config import Settings
from ivr_gateway.models import Rag
from ivr_gateway.office.accounts import create_office_user
from ivr_gateway.office.models import OfficeRole
from ivr_gateway.rota.loading import RotaItem, load_rota
from ivr_gateway.rota.schemas import AdultIn, CareWorkerIn, PlannedVisitIn, validation_context
from ivr_gateway.sms.devices import TokenIn, new_code_sheet, register_token


@dataclass(frozen=True)
class DemoCarer:
    """A demo carer's keypad details."""

    name: str
    staff_number: str
    pin: str
    language: str
    mobile: str  # what their texts come from


@dataclass(frozen=True)
class DemoInfo:
    """What the demo prints for the newcomer."""

    api_token: str
    carers: list[DemoCarer]
    landlines: dict[str, str]  # landline -> who lives there
    client_numbers: dict[str, str]  # client number -> initials
    token_serial: str = ""  # the visit-code token at Joan Smith's home
    sheet_number: int = 0  # the code sheet in Mary Brown's care folder
    sheet_codes: list[str] = field(default_factory=list)  # its first codes, for the banner
    office_username: str = "office"
    office_password: str = ""
    planned_starts: dict[str, datetime] = field(default_factory=dict)  # visit ref -> start


# Ofcom's numbers for drama (0113 496 0xxx): never a real line, valid to phonenumbers.
JOAN_LANDLINE = "+441134960001"
BROWN_LANDLINE = "+441134960002"
EDITH_LANDLINE = "+441134960003"
# The demo token: a published example secret, never a real token's.
DEMO_TOKEN_SERIAL = "VC-1001"  # noqa: S105 - a serial number, not a secret
DEMO_TOKEN_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - public demo value

CARERS = [
    DemoCarer("Amy Jones", "1234", "4721", "en", "+447911123450"),
    DemoCarer("Kasia Nowak", "2345", "6190", "pl", "+447911123451"),
    DemoCarer("Ben Taylor", "3456", "8052", "en", "+447911123452"),
]


def _quarter_hour_after(now: datetime) -> datetime:
    base = now.replace(second=0, microsecond=0)
    return base + timedelta(minutes=(15 - base.minute % 15) % 15 or 15)


def load_demo_rota(session: Session, now: datetime, settings: Settings) -> DemoInfo:
    """Adults, carers (one speaking Polish) and today's visits around now, with an API token.

    Loaded as one batch through the rota loader behind `POST /api/v1/rota/batch` and the CSV
    import (all or nothing), so the demo data obeys the same rules (valid landlines, strong
    PINs, visits of at most 12 hours) and arrives as a rostering system's day would.
    """
    items: list[RotaItem] = []
    context = validation_context(settings)
    actor = "demo"
    adults = [
        ("ECC-1001", "Joan", "Smith", "1", Rag.GREEN, "100001", JOAN_LANDLINE),
        ("ECC-1002", "Mary", "Brown", "2", Rag.AMBER, "100002", BROWN_LANDLINE),
        ("ECC-1003", "Peter", "Brown", "2", Rag.RED, "100003", BROWN_LANDLINE),
        ("ECC-1004", "Edith", "Clarke", "3", Rag.RED, "100004", EDITH_LANDLINE),
    ]
    for ref, given, family, house, rag, client_number, landline in adults:
        items.append(RotaItem("adult", ref, AdultIn.model_validate({
            "given_name": given, "family_name": family,
            "address": f"{house} Demo Road, Chelmsford", "postcode": "CM1 1AA",
            "landlines": [landline], "rag": rag.value, "client_number": client_number,
        }, context=context)))
    for carer in CARERS:
        given, family = carer.name.split()
        items.append(RotaItem("care_worker", f"EMP-{carer.staff_number}",
                              CareWorkerIn.model_validate({
                                  "staff_number": carer.staff_number, "given_name": given,
                                  "family_name": family, "pin": carer.pin,
                                  "mobiles": [carer.mobile], "language": carer.language,
                                  "branch": "Chelmsford"}, context=context)))

    amy, kasia, ben = (f"EMP-{c.staff_number}" for c in CARERS)
    soon = _quarter_hour_after(now)
    late_after = settings.kpi.late_after
    visits = [
        ("DEMO-1", "ECC-1001", [amy], now - timedelta(minutes=1), 30),  # Amy is due: on time
        # Nobody there: late (and not yet missed) when the demo starts.
        ("DEMO-2", "ECC-1004", [amy], now - timedelta(minutes=late_after + 15), 30),
        ("DEMO-3", "ECC-1002", [kasia, ben], soon, 45),  # a double-up in a shared household
        ("DEMO-4", "ECC-1003", [kasia], soon + timedelta(hours=1), 30),
        ("DEMO-5", "ECC-1001", [ben], soon + timedelta(hours=5), 30),
        ("DEMO-6", "ECC-1004", [kasia], soon + timedelta(hours=8), 30),
        # Ben is due at Mary's; nobody logs in, so the escalation raises a late start about two
        # minutes into the demo (late = KPI_LATE_AFTER_MINUTES after planned start).
        ("DEMO-7", "ECC-1002", [ben], now - timedelta(minutes=late_after - 2), 30),
    ]
    planned_starts = {}
    for ref, adult_ref, team, start, minutes in visits:
        start = start.replace(second=0, microsecond=0)
        planned_starts[ref] = start
        items.append(RotaItem("planned_visit", ref, PlannedVisitIn.model_validate({
            "adult_ref": adult_ref, "care_worker_refs": team, "planned_start": start,
            "planned_end": start + timedelta(minutes=minutes), "time_critical": ref == "DEMO-2",
        }, context=context)))
    loaded = load_rota(session, items, settings=settings, now=now, actor=actor,
                       mode="all_or_nothing")
    if not loaded.stored:  # the demo's own rota: a refusal is a bug in this module
        raise RuntimeError(f"the demo rota was refused: {loaded.invalid}")

    office_password = "demo-" + secrets.token_urlsafe(9)
    create_office_user(session, "office", office_password, OfficeRole.ADMINISTRATOR, now=now,
                       actor=actor, display_name="Demo office", temporary=False)

    _row, token = create_api_token(session, "demo", now=now, actor=actor)
    # Visit codes: a token fixed in Joan's home, a printed sheet in Mary's care folder.
    register_token(session, DEMO_TOKEN_SERIAL, TokenIn(adult_ref="ECC-1001",
                                                       secret=DEMO_TOKEN_SECRET, digits=6,
                                                       step=30),
                   settings=settings, now=now, actor=actor)
    sheet = new_code_sheet(session, "ECC-1002", count=20, settings=settings, now=now,
                           actor=actor)
    return DemoInfo(
        api_token=token, carers=CARERS,
        landlines={JOAN_LANDLINE: "J.S.", BROWN_LANDLINE: "M.B. and P.B.",
                   EDITH_LANDLINE: "E.C."},
        client_numbers={"100001": "J.S.", "100002": "M.B.", "100003": "P.B.", "100004": "E.C."},
        token_serial=DEMO_TOKEN_SERIAL, sheet_number=sheet.sheet_number,
        sheet_codes=sheet.codes[:4],
        office_username="office", office_password=office_password, planned_starts=planned_starts)
