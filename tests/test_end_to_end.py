"""The newcomer's path: demo rota, a simulated log-in and log-out, the visit in the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.demo import load_demo_rota
from ivr_gateway.simulator import PhoneSimulator
from tests.live_server import serving

# A Sunday morning in summer time: 10:07 London is 09:07 UTC.
NOW = datetime(2026, 7, 5, 9, 7, 30, tzinfo=UTC)


def test_demo_call_in_and_out_shows_the_visit_with_actual_times_in_the_api(
    database: Database, clock: FixedClock
) -> None:
    clock.set(NOW)
    settings = Settings(database_url=database.url)
    with database.unit_of_work() as session:
        info = load_demo_rota(session, NOW, settings)
    amy = info.carers[0]
    with serving(lambda url: create_app(settings.with_overrides(public_base_url=url), database,
                                        clock)) as base_url:
        simulator = PhoneSimulator(base_url, settings.twilio_auth_token,
                                   account_sid=settings.twilio_account_sid,
                                   gateway_number=settings.twilio_phone_number)
        log_in = simulator.call("01134960001", [amy.staff_number, amy.pin])
        clock.set(NOW + timedelta(minutes=28))
        log_out = simulator.call("01134960001", [amy.staff_number, amy.pin])
        response = requests.get(f"{base_url}/api/v1/visits", params={"date": "2026-07-05"},
                                headers={"Authorization": f"Bearer {info.api_token}"},
                                timeout=10)

    assert "Logged in at 10:07 for J. S. Press 9 if wrong." in log_in.heard
    assert any(h.startswith("Logged out at 10:35 from J. S. 28 minutes.") for h in log_out.heard)
    assert response.status_code == 200
    body = response.json()
    visits = body["visits"] if isinstance(body, dict) else body
    visit = next(v for v in visits if v["ref"] == "DEMO-1")
    assert visit["outcome"] == "completed"
    assert visit["actual_start"].startswith("2026-07-05T09:07")
    assert visit["actual_end"].startswith("2026-07-05T09:35")
    assert visit["actuals"][0]["in_verification"] == "caller_id"
    # Edith's visit began 45 minutes before the demo started and nobody came: late then, and
    # missed 28 minutes later, since she is red-rated (missed at one hour, not two, on the board
    # as in her alert).
    edith = next(v for v in visits if v["ref"] == "DEMO-2")
    assert edith["outcome"] == "missed"
