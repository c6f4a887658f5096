"""docs/examples/rostering_client.py works against a real gateway: loads a day, follows the feed,
verifies signatures as the gateway makes them."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType

from sqlalchemy import select

from ivr_gateway.api.models import ApiToken
from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.models import CareWorker, LogKind, PlannedVisit
from ivr_gateway.webhooks.signing import new_secret, signed_headers
from tests.api.conftest import TOKEN
from tests.live_server import serving
from tests.webhooks.conftest import log

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "rostering_client.py"


def example() -> ModuleType:
    """The example script as a module."""
    spec = importlib.util.spec_from_file_location("rostering_client", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_loads_a_day_and_follows_its_visits_through_the_feed(
        settings: Settings, database: Database, clock: FixedClock, api_token: ApiToken,
        tmp_path: Path) -> None:
    client = example()
    with serving(create_app(settings, database, clock)) as base:
        gateway = client.Gateway(base, TOKEN)
        lines = gateway.load_day(client.DAY)
        assert lines == ["adult A-100: created", "care_worker CW-7: created",
                         "planned_visit PV-2001: created"]
        with database.unit_of_work() as session:
            visit = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == "PV-2001"))
            carer = session.scalar(select(CareWorker).where(CareWorker.ref == "CW-7"))
            assert visit is not None and carer is not None
            log(session, carer.id, visit.adult_id, visit.planned_start, LogKind.IN)
        state_file = tmp_path / "copy.json"
        deadline = time.monotonic() + 30  # PostgreSQL: until older transactions have ended
        state = client.follow(gateway, state_file, once=True)
        while "actual_visits" in state and not state["actual_visits"] \
                and time.monotonic() < deadline:
            time.sleep(0.1)
            state = client.follow(gateway, state_file, once=True)
    assert state["visits"]["PV-2001"]["actual_start"] == "2026-01-13T08:00:00Z"
    assert [a["care_worker_ref"] for a in state["actual_visits"].values()] == ["CW-7"]
    assert state["cursor"]


def test_the_examples_plain_hmac_check_accepts_our_signature_and_refuses_others() -> None:
    client = example()
    secret = new_secret()
    body = '{"type":"log_event.recorded","data":{}}'
    headers = signed_headers(secret, "msg_1_0_1", 1_800_000_000, body)
    assert client.verify_webhook(secret, headers, body.encode(), now=1_800_000_010)
    assert not client.verify_webhook(new_secret(), headers, body.encode(), now=1_800_000_010)
    assert not client.verify_webhook(secret, headers, body.encode() + b" ", now=1_800_000_010)
    assert not client.verify_webhook(secret, headers, body.encode(), now=1_800_001_000)
