"""The newcomer's path by text: demo rota, `simulate sms` with a token and a sheet code, the API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy.orm import Session

from ivr_gateway.app import create_app
from ivr_gateway.cli import main
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.demo import DemoInfo, load_demo_rota
from ivr_gateway.models import LogEvent
from ivr_gateway.sms.devices import current_code
from ivr_gateway.sms.models import InboundText
from ivr_gateway.sms.simulator import message_form, send_text
from ivr_gateway.telephony.signature import sign
from tests.ivr.calls import count
from tests.live_server import free_port, serving

NOW = datetime(2026, 7, 5, 9, 7, 30, tzinfo=UTC)  # 10:07 London (BST)
AMY, BEN = "+447911123450", "+447911123452"


@pytest.fixture
def demo(database: Database, clock: FixedClock
         ) -> Iterator[tuple[str, Settings, DemoInfo]]:
    """The demo rota, served on a real port."""
    clock.set(NOW)
    settings = Settings(database_url=database.url)
    with database.unit_of_work() as session:
        info = load_demo_rota(session, NOW, settings)
    with serving(lambda url: create_app(settings.with_overrides(public_base_url=url), database,
                                        clock)) as base_url:
        yield base_url, settings.with_overrides(public_base_url=base_url), info


def _send(base_url: str, settings: Settings, from_number: str, body: str) -> list[str]:
    return send_text(base_url, settings.twilio_auth_token,
                     account_sid=settings.twilio_account_sid,
                     gateway_number=settings.twilio_phone_number, from_number=from_number,
                     body=body)


def test_demo_token_and_sheet_codes_log_visits_that_the_api_shows(
        demo: tuple[str, Settings, DemoInfo], database: Database, clock: FixedClock) -> None:
    base_url, settings, info = demo
    with database.unit_of_work() as session:
        code = current_code(session, info.token_serial, settings, clock.now()).code
    assert _send(base_url, settings, AMY, f"IN {code}") == [
        "Logged in 10:07 for J.S. Text OUT and the code when you leave."]
    sheet_code = info.sheet_codes[0]
    assert _send(base_url, settings, BEN, f"in {sheet_code[:4]} {sheet_code[4:]}")[0].startswith(
        "Logged in 10:07 for M.B.")
    clock.set(NOW + timedelta(minutes=28))
    with database.unit_of_work() as session:
        code = current_code(session, info.token_serial, settings, clock.now()).code
    assert _send(base_url, settings, AMY, f"OUT {code}")[0].startswith(
        "Logged out 10:35 from J.S., 28 min.")
    response = requests.get(f"{base_url}/api/v1/visits", params={"date": "2026-07-05"},
                            headers={"Authorization": f"Bearer {info.api_token}"}, timeout=10)
    visits = {v["ref"]: v for v in response.json()["visits"]}
    joan = visits["DEMO-1"]
    assert joan["outcome"] == "completed"
    assert (joan["actuals"][0]["in_verification"],
            joan["actuals"][0]["out_verification"]) == ("token_code", "token_code")
    mary = visits["DEMO-3"]
    assert mary["actuals"][0]["in_verification"] == "sheet_code"


def test_simulate_sms_command_prints_the_reply(
        demo: tuple[str, Settings, DemoInfo], database: Database) -> None:
    base_url, _settings, _info = demo
    result = CliRunner().invoke(main, ["simulate", "sms", "--from", "+447700900999", "IN 123456",
                                       "--url", base_url],
                                env={"DATABASE_URL": database.url, "PUBLIC_BASE_URL": base_url})
    assert result.exit_code == 0, result.output
    assert "gateway replies: This mobile is not registered to log visits." in result.output


def test_simulate_sms_says_when_the_gateway_is_not_running(database: Database) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["simulate", "sms", "--from", AMY, "HELP", "--url", url],
                                env={"DATABASE_URL": database.url})
    assert result.exit_code != 0 and "Is `ivr-gateway demo` running?" in result.output


@pytest.mark.postgres_only
def test_concurrent_duplicates_of_one_message_store_one_text_and_one_log_event(
        demo: tuple[str, Settings, DemoInfo], database: Database, clock: FixedClock,
        session: Session) -> None:
    base_url, settings, info = demo
    with database.unit_of_work() as s:
        code = current_code(s, info.token_serial, settings, clock.now()).code
    url = f"{base_url}/twilio/sms"
    form = message_form("SM" + "5" * 32, settings.twilio_account_sid, AMY,
                        settings.twilio_phone_number, f"IN {code}")
    headers = {"X-Twilio-Signature": sign(settings.twilio_auth_token, url, form)}
    replies: list[str] = []
    start = threading.Barrier(6)

    def post() -> None:
        start.wait()
        replies.append(requests.post(url, data=form, headers=headers, timeout=15).text)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(replies)) == 1 and "Logged in 10:07 for J.S." in replies[0]
    assert count(session, InboundText) == 1 and count(session, LogEvent) == 1
