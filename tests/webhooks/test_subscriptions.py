"""Webhook subscriptions by API and CLI; the demo's receiver is subscribed and sent a log-in."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import requests
from click.testing import CliRunner

from ivr_gateway.cli import main
from ivr_gateway.clock import FixedClock
from ivr_gateway.commandline import CliContext
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.models import LogKind
from ivr_gateway.webhooks.demo import start_demo_webhooks
from ivr_gateway.webhooks.models import WebhookSubscription
from ivr_gateway.webhooks.signing import open_secret
from tests.api.conftest import Api
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.live_server import free_port
from tests.webhooks.conftest import log


def test_a_subscription_is_created_shown_changed_paused_and_removed_by_api(
        api: Api, database: Database, settings: Settings) -> None:
    created = api.post("/webhooks/subscriptions", {
        "url": "https://rostering.example/hooks", "event_types": ["log_event.recorded"],
        "description": "CarePlanner"})
    assert created.status_code == 201
    sub = created.get_json()["subscription"]
    assert sub["secret"].startswith("whsec_")  # shown once, here
    assert sub["event_types"] == ["log_event.recorded"]
    with database.unit_of_work() as session:  # kept encrypted under TOKEN_SECRET_KEY
        stored = session.get_one(WebhookSubscription, sub["id"]).secret
    assert sub["secret"] not in stored
    assert open_secret(stored, settings.token_secret_key) == sub["secret"]

    shown = api.get(f"/webhooks/subscriptions/{sub['id']}").get_json()["subscription"]
    assert shown["secret"] is None
    listed = api.get("/webhooks/subscriptions").get_json()["subscriptions"]
    assert [s["id"] for s in listed] == [sub["id"]]
    assert listed[0]["secret"] is None

    patched = api.call("PATCH", f"/webhooks/subscriptions/{sub['id']}",
                       {"active": False, "event_types": ["*"]})
    assert patched.status_code == 200
    assert (patched.get_json()["subscription"]["active"],
            patched.get_json()["subscription"]["event_types"]) == (False, ["*"])

    assert api.call("DELETE", f"/webhooks/subscriptions/{sub['id']}").status_code == 200
    assert api.get(f"/webhooks/subscriptions/{sub['id']}").status_code == 404
    assert api.get("/webhooks/subscriptions").get_json()["subscriptions"] == []


def test_a_subscription_with_a_bad_url_or_event_type_is_refused_by_field(api: Api) -> None:
    bad_url = api.post("/webhooks/subscriptions", {"url": "ftp://x.example/"})
    assert bad_url.status_code == 422
    assert bad_url.get_json()["error"]["fields"][0]["field"] == "url"
    bad_type = api.post("/webhooks/subscriptions", {"url": "https://x.example/",
                                                    "event_types": ["visit.teleported"]})
    assert bad_type.status_code == 422
    assert "visit.teleported" in bad_type.get_json()["error"]["message"]
    assert api.call("PATCH", "/webhooks/subscriptions/99", {"active": False}).status_code == 404


def test_webhooks_add_list_and_remove_at_the_command_line(
        settings: Settings, database: Database, clock: FixedClock) -> None:
    def run(*args: str) -> str:
        result = CliRunner().invoke(main, list(args),
                                    obj=CliContext(settings, clock, database))
        assert result.exit_code == 0, result.output
        return result.output

    added = run("webhooks", "add", "https://rostering.example/hooks", "--events",
                "planned_visit.cancelled,reason_code.recorded", "--description", "Access")
    assert "Subscription 1 sends planned_visit.cancelled, reason_code.recorded" in added
    assert "whsec_" in added
    listed = run("webhooks", "list")
    assert "1\tactive\tplanned_visit.cancelled,reason_code.recorded\t" \
           "https://rostering.example/hooks\tAccess" in listed
    assert "whsec_" not in listed
    assert "removed" in run("webhooks", "remove", "1")
    assert run("webhooks", "list").strip() == "No webhook subscriptions."
    refused = CliRunner().invoke(main, ["webhooks", "add", "not a url"],
                                 obj=CliContext(settings, clock, database))
    assert refused.exit_code != 0
    assert "is not an http:// or https:// URL" in refused.output


def test_the_demos_receiver_is_subscribed_and_verifies_a_log_in_pushed_to_it(
        settings: Settings, database: Database, clock: FixedClock) -> None:
    clock.set(datetime.now(UTC))  # the receiver checks signatures against the real time
    with database.unit_of_work() as session:
        adult = make_adult(session)
        carer = make_care_worker(session)
        make_planned_visit(session, adult, [carer], start=clock.now(), ref="V-DEMO")
        ids = (carer.id, adult.id)
    curl = start_demo_webhooks(settings, database, clock, free_port())
    url = curl.split('"')[1]
    with database.unit_of_work() as session:
        log(session, *ids, clock.now() - timedelta(minutes=1), LogKind.IN)

    deadline = time.monotonic() + 30
    received: list[dict] = []
    while not received and time.monotonic() < deadline:
        received = requests.get(url, timeout=5).json()["received"]
        time.sleep(0.1)
    assert [(r["type"], r["planned_visit_ref"]) for r in received] == [
        ("log_event.recorded", "V-DEMO")]
    assert requests.get(url, timeout=5).json()["refused"] == 0
