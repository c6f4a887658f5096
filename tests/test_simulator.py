"""The phone simulator plays calls against a gateway on a real port, signed as Twilio signs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.app import create_app
from ivr_gateway.cli import main
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ivr.models import Call
from ivr_gateway.models import ActualVisit, ActualVisitState, ConcernRecording
from ivr_gateway.simulator import PhoneSimulator, SimulatorError
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.live_server import free_port, serving

START = datetime(2026, 6, 2, 6, 0, tzinfo=UTC)  # 07:00 London (BST)


@pytest.fixture
def gateway(database: Database, clock: FixedClock) -> Iterator[tuple[str, Settings]]:
    """The gateway on a real port, its PUBLIC_BASE_URL set as behind a proxy."""
    settings = Settings(database_url=database.url)
    with serving(lambda url: create_app(settings.with_overrides(public_base_url=url), database,
                                        clock)) as base_url:
        yield base_url, settings.with_overrides(public_base_url=base_url)


def _simulator(base_url: str, settings: Settings, token: str | None = None) -> PhoneSimulator:
    return PhoneSimulator(base_url, token or settings.twilio_auth_token,
                          account_sid=settings.twilio_account_sid,
                          gateway_number=settings.twilio_phone_number)


def test_simulated_log_in_and_log_out_make_an_actual_visit(
    gateway: tuple[str, Settings], session: Session, clock: FixedClock
) -> None:
    base_url, settings = gateway
    adult = make_adult(session, landlines=("+441134960001",))
    carer = make_care_worker(session, staff_number="1234", pin="5678")
    make_planned_visit(session, adult, [carer], start=START)
    session.commit()
    clock.set(START + timedelta(minutes=2))
    log_in = _simulator(base_url, settings).call("01134960001", ["1234", "5678"])
    assert "Logged in at 7:02 for J. S. Press 9 if wrong." in log_in.heard
    assert log_in.hung_up_by_gateway

    clock.set(START + timedelta(minutes=31))
    log_out = _simulator(base_url, settings).call("01134960001", ["1234", "5678", "1"],
                                                   record_concern_seconds=6)
    assert any(h.startswith("Logged out at 7:31 from J. S. 29 minutes.") for h in log_out.heard)
    visit = session.scalars(select(ActualVisit)).one()
    assert visit.state == ActualVisitState.CLOSED
    assert (visit.started_at, visit.ended_at) == (START + timedelta(minutes=2),
                                                  START + timedelta(minutes=31))
    concern = session.scalars(select(ConcernRecording)).one()
    assert concern.duration_seconds == 6
    # the simulator reports the end of each call, as Twilio's status callback does
    calls = session.scalars(select(Call)).all()
    assert {c.status for c in calls} == {"completed"}


def test_simulator_signed_with_the_wrong_token_is_refused(gateway: tuple[str, Settings]) -> None:
    base_url, settings = gateway
    with pytest.raises(SimulatorError, match="403"):
        _simulator(base_url, settings, token="not-the-token").call("01134960001", ["1234"])


def test_simulate_call_command_prints_what_the_carer_hears(
    gateway: tuple[str, Settings], session: Session
) -> None:
    base_url, _ = gateway
    make_adult(session, landlines=("+441134960001",))
    make_care_worker(session, staff_number="1234", pin="5678")
    session.commit()
    result = CliRunner().invoke(main, ["simulate", "call", "--url", base_url, "--from",
                                       "01134960001", "--keys", "1234,5678"])
    assert result.exit_code == 0, result.output
    assert "gateway: Carer number." in result.output
    assert "gateway: Logged in at" in result.output
    assert "This visit is not on your rota" in result.output  # no planned visit: unplanned


def test_simulate_call_command_explains_an_unreachable_gateway() -> None:
    result = CliRunner().invoke(main, ["simulate", "call", "--url",
                                       f"http://127.0.0.1:{free_port()}", "--from", "anonymous"])
    assert result.exit_code == 1
    assert "Could not reach the gateway" in result.output


def test_demo_loads_todays_rota_and_prints_how_to_try_it(tmp_path: object) -> None:
    from pathlib import Path

    from ivr_gateway.models import PlannedVisit

    path = Path(str(tmp_path)) / "demo.sqlite3"
    result = CliRunner().invoke(main, ["demo", "--no-serve", "--database", str(path)])
    assert result.exit_code == 0, result.output
    assert "simulate call --from 01134960001 --keys 1234,4721" in result.output
    assert "Authorization: Bearer ivr_" in result.output
    assert "/api/v1/alerts/1/acknowledge" in result.output  # how to acknowledge the demo alert
    database = Database(f"sqlite:///{path}")
    with database.sessionmaker() as session:
        visits = session.scalars(select(PlannedVisit)).all()
        assert len(visits) == 7
        assert any(len(v.care_workers) == 2 for v in visits)  # the double-up
    database.dispose()
