"""Council forwarding fixtures: the mock council on a real local port, and visits to forward."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import Clock
from ivr_gateway.config import KpiWindows, Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc.events import render_visit_records
from ivr_gateway.ecc.mock_server import Faults, MockStore, create_mock_app
from ivr_gateway.ecc.relay import build_relay
from ivr_gateway.models import Channel, LogKind, Verification
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.outbox.relay import Relay
from ivr_gateway.visits.recording import LogRequest, LogResult, record_log_event
from tests.api.conftest import api, api_token  # noqa: F401 - fixtures for the /outbox test
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.live_server import serving

MOCK_TOKEN = "mock-council-token"


@dataclass
class MockCouncil:
    """The mock council API served on 127.0.0.1, with its store and live faults."""

    url: str  # .../api/v1
    store: MockStore
    faults: Faults

    def keys(self) -> list[str]:
        """Idempotency keys of the records it holds, in arrival order."""
        return [r["idempotency_key"] for r in self.store.records()]

    def set_faults(self, **changes: Any) -> None:
        """Change the faults through the admin endpoint, as an operator would."""
        response = requests.put(self.url.removesuffix("/api/v1") + "/admin/faults", json=changes,
                                headers={"Authorization": f"Bearer {MOCK_TOKEN}"}, timeout=5)
        assert response.status_code == 200, response.text


@pytest.fixture
def mock_council(tmp_path: Any) -> Iterator[MockCouncil]:
    """The mock council, storing in a SQLite file, with no faults to begin with."""
    store = MockStore(str(tmp_path / "council.sqlite3"))
    faults = Faults()
    app = create_mock_app(store, MOCK_TOKEN, faults, seed=7)
    with serving(app) as base:
        yield MockCouncil(base + "/api/v1", store, faults)


def relay_for(settings: Settings, database: Database, clock: Clock, council: MockCouncil,
              **kwargs: Any) -> Relay:
    """The production relay wiring, pointed at the mock council."""
    return build_relay(settings.with_overrides(ecc_api_url=council.url,
                                               ecc_api_token=MOCK_TOKEN),
                       database, clock, **kwargs)


def log(session: Session, care_worker_id: int, adult_id: int, at: datetime,
        verification: Verification = Verification.CALLER_ID, kind: LogKind | None = None,
        received_after: timedelta = timedelta(0)) -> LogResult:
    """Record a log event as a channel would (the caller commits)."""
    return record_log_event(session, LogRequest(
        channel=Channel.IVR, care_worker_id=care_worker_id, adult_id=adult_id, event_time=at,
        received_at=at + received_after, verification=verification, kind=kind,
        from_number="+441134960001"), KpiWindows())


RENDER_NOW = datetime(2100, 1, 1, tzinfo=UTC)  # every pointer is due by then


def ecc_messages(session: Session) -> list[OutboxMessage]:
    """The council records in the outbox, oldest first (every change rendered first, as the
    relay's passes would: one carer's changes wait for each other, one per pass)."""
    while render_visit_records(session, RENDER_NOW):
        session.commit()
    session.commit()
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ecc")
                                .order_by(OutboxMessage.id)))


def visits_with_log_in_and_out(database: Database, count: int, start: datetime
                               ) -> list[tuple[str, str]]:
    """`count` carers each log in and out of a visit: (log-in key, log-out key) per visit."""
    pairs = []
    with database.unit_of_work() as session:
        adult = make_adult(session)
        for i in range(count):
            carer = make_care_worker(session, staff_number=f"{7000 + i}")
            at = start + timedelta(minutes=i)
            make_planned_visit(session, adult, [carer], start=at)
            # The relay renders each change as it comes (it wakes every second), so a log-in and
            # its log-out half an hour later are two versions of the visit.
            visit_in = log(session, carer.id, adult.id, at, kind=LogKind.IN)
            render_visit_records(session, RENDER_NOW)
            log(session, carer.id, adult.id, at + timedelta(minutes=30), kind=LogKind.OUT)
            render_visit_records(session, RENDER_NOW)
            pairs.append((f"ecc:actual_visit:AV-{visit_in.actual_visit_id}:1",
                          f"ecc:actual_visit:AV-{visit_in.actual_visit_id}:2"))
    return pairs
