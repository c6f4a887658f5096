"""Demo data: a small, realistic rota for today, so a newcomer can try a call in a minute."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.hashing import hash_api_token, hash_pin, new_api_token
from ivr_gateway.models import (
    Adult,
    AdultLandline,
    ApiToken,
    CareWorker,
    CareWorkerMobile,
    PlannedVisit,
    Rag,
)


@dataclass(frozen=True)
class DemoCarer:
    """A demo carer's keypad details."""

    name: str
    staff_number: str
    pin: str
    language: str


@dataclass(frozen=True)
class DemoInfo:
    """What the demo prints for the newcomer."""

    api_token: str
    carers: list[DemoCarer]
    landlines: dict[str, str]  # landline -> who lives there
    client_numbers: dict[str, str]  # client number -> initials


# Ofcom's numbers for drama (0113 496 0xxx): never a real line, valid to phonenumbers.
JOAN_LANDLINE = "+441134960001"
BROWN_LANDLINE = "+441134960002"
EDITH_LANDLINE = "+441134960003"

CARERS = [
    DemoCarer("Amy Jones", "1234", "5678", "en"),
    DemoCarer("Kasia Nowak", "2345", "6789", "pl"),
    DemoCarer("Ben Taylor", "3456", "4321", "en"),
]


def _quarter_hour_after(now: datetime) -> datetime:
    base = now.replace(second=0, microsecond=0)
    return base + timedelta(minutes=(15 - base.minute % 15) % 15 or 15)


def load_demo_rota(session: Session, now: datetime, settings: Settings) -> DemoInfo:
    """Adults, carers (one speaking Polish) and today's visits around now, with an API token."""
    def adult(ref: str, given: str, family: str, number: str, rag: Rag, client_number: str,
              landlines: list[str]) -> Adult:
        row = Adult(ref=ref, client_number=client_number, given_name=given, family_name=family,
                    address=f"{number} Demo Road, Chelmsford", postcode="CM1 1AA", rag=rag,
                    active=True, created_at=now, updated_at=now)
        row.landlines = [AdultLandline(number=n) for n in landlines]
        session.add(row)
        return row

    joan = adult("ECC-1001", "Joan", "Smith", "1", Rag.GREEN, "100001", [JOAN_LANDLINE])
    mary = adult("ECC-1002", "Mary", "Brown", "2", Rag.AMBER, "100002", [BROWN_LANDLINE])
    peter = adult("ECC-1003", "Peter", "Brown", "2", Rag.RED, "100003", [BROWN_LANDLINE])
    edith = adult("ECC-1004", "Edith", "Clarke", "3", Rag.RED, "100004", [EDITH_LANDLINE])

    carers = []
    for i, c in enumerate(CARERS):
        given, family = c.name.split()
        row = CareWorker(ref=f"EMP-{c.staff_number}", staff_number=c.staff_number,
                         given_name=given, family_name=family, pin_hash=hash_pin(c.pin),
                         language=c.language, branch="Chelmsford", active=True,
                         created_at=now, updated_at=now)
        row.mobiles = [CareWorkerMobile(number=f"+4479111234{50 + i}")]
        session.add(row)
        carers.append(row)
    amy, kasia, ben = carers

    soon = _quarter_hour_after(now)
    visits = [
        ("DEMO-1", joan, [amy], now - timedelta(minutes=1), 30),  # Amy is due now: log in on time
        ("DEMO-2", edith, [amy], now - timedelta(minutes=45), 30),  # nobody there yet: late
        ("DEMO-3", mary, [kasia, ben], soon, 45),  # a double-up in a shared household
        ("DEMO-4", peter, [kasia], soon + timedelta(hours=1), 30),
        ("DEMO-5", joan, [ben], soon + timedelta(hours=5), 30),
        ("DEMO-6", edith, [kasia], soon + timedelta(hours=8), 30),
    ]
    for ref, who, team, start, minutes in visits:
        visit = PlannedVisit(ref=ref, adult=who, planned_start=start,
                             planned_end=start + timedelta(minutes=minutes),
                             time_critical=ref == "DEMO-2", created_at=now, updated_at=now)
        visit.care_workers = team
        session.add(visit)

    token = new_api_token()
    session.add(ApiToken(name="demo", token_hash=hash_api_token(token), created_at=now))
    session.flush()
    return DemoInfo(
        api_token=token, carers=CARERS,
        landlines={JOAN_LANDLINE: "J.S.", BROWN_LANDLINE: "M.B. and P.B.",
                   EDITH_LANDLINE: "E.C."},
        client_numbers={a.client_number: a.initials for a in (joan, mary, peter, edith)})
