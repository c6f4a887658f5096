"""A concern's recording is played through the dashboard, fetched from Twilio with the account."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from sqlalchemy.orm import Session

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.models import ActualVisit, ActualVisitState, ConcernRecording
from ivr_gateway.office.models import OfficeRole
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.office.conftest import Office, make_office_user

AUDIO = b"ID3\x04\x00fake mp3 frames" * 100
ACCOUNT = "AC" + "1" * 32
RECORDING_PATH = f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE{'2' * 32}"


class FakeTwilio(BaseHTTPRequestHandler):
    """Serves the one recording, as Twilio does: MP3, to the account's credentials only."""

    requests: ClassVar[list[tuple[str, str]]] = []  # (path, Authorization header)

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        FakeTwilio.requests.append((self.path, auth))
        expected = "Basic " + base64.b64encode(f"{ACCOUNT}:secret-token".encode()).decode()
        if auth != expected:
            self.send_response(401)
            self.end_headers()
        elif self.path == RECORDING_PATH + ".mp3":
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.send_header("Content-Length", str(len(AUDIO)))
            self.end_headers()
            self.wfile.write(AUDIO)
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def twilio() -> Iterator[str]:
    """A fake of Twilio's API on a free local port; its base URL."""
    FakeTwilio.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _office(database: Database, clock: FixedClock, api_base: str) -> Office:
    settings = Settings(database_url=database.url, twilio_api_base=api_base,
                        twilio_account_sid=ACCOUNT, twilio_auth_token="secret-token")
    return Office(create_app(settings, database, clock).test_client())


def _concern(session: Session, url: str, actual_visit_id: int | None = None) -> int:
    concern = ConcernRecording(call_sid="CA" + "3" * 32, recording_sid="RE" + "2" * 32,
                               recording_url=url, duration_seconds=12,
                               actual_visit_id=actual_visit_id,
                               created_at=datetime(2026, 1, 13, 9, 0, tzinfo=UTC))
    session.add(concern)
    session.commit()
    return concern.id


def test_a_coordinator_hears_the_recording_fetched_with_the_account_credentials(
        database: Database, clock: FixedClock, session: Session, twilio: str) -> None:
    concern_id = _concern(session, twilio + RECORDING_PATH)
    make_office_user(session, "cora", OfficeRole.COORDINATOR)
    office = _office(database, clock, twilio)
    assert office.login("cora").status_code == 302
    response = office.get(f"/office/concerns/{concern_id}/recording")
    assert response.status_code == 200
    assert response.mimetype == "audio/mpeg"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data == AUDIO
    assert [path for path, _auth in FakeTwilio.requests] == [RECORDING_PATH + ".mp3"]


def test_nobody_logged_out_gets_it_and_twilio_is_not_asked(
        database: Database, clock: FixedClock, session: Session, twilio: str) -> None:
    concern_id = _concern(session, twilio + RECORDING_PATH)
    response = _office(database, clock, twilio).get(f"/office/concerns/{concern_id}/recording")
    assert response.status_code == 302 and "/office/login" in response.headers["Location"]
    assert FakeTwilio.requests == []


@pytest.mark.parametrize("stored", [
    "http://127.0.0.1:9/elsewhere.mp3",  # another host: never fetched with our credentials
    "{base}/2010-04-01/Accounts/AC1/Calls/CA1",  # Twilio, but not a recording
])
def test_a_url_that_is_not_a_twilio_recording_is_never_fetched(
        database: Database, clock: FixedClock, session: Session, twilio: str,
        stored: str) -> None:
    concern_id = _concern(session, stored.format(base=twilio))
    make_office_user(session, "cora", OfficeRole.COORDINATOR)
    office = _office(database, clock, twilio)
    office.login("cora")
    response = office.get(f"/office/concerns/{concern_id}/recording")
    assert response.status_code == 404
    assert "not on Twilio" in response.get_data(as_text=True)
    assert FakeTwilio.requests == []


def test_a_recording_twilio_no_longer_has_or_an_unreachable_twilio_gets_a_clear_page(
        database: Database, clock: FixedClock, session: Session, twilio: str) -> None:
    gone = _concern(session, twilio + RECORDING_PATH.replace("2" * 32, "9" * 32))
    make_office_user(session, "cora", OfficeRole.COORDINATOR)
    office = _office(database, clock, twilio)
    office.login("cora")
    response = office.get(f"/office/concerns/{gone}/recording")
    assert response.status_code == 502
    assert "answered 404" in response.get_data(as_text=True)
    closed = _office(database, clock, "http://127.0.0.1:9")  # nothing listens on port 9
    closed.login("cora")
    with database.unit_of_work() as db:
        db.get_one(ConcernRecording, gone).recording_url = (
            "http://127.0.0.1:9" + RECORDING_PATH)
    response = closed.get(f"/office/concerns/{gone}/recording")
    assert response.status_code == 502
    assert "could not be reached" in response.get_data(as_text=True)
    assert office.get("/office/concerns/424242/recording").status_code == 404


def test_the_visit_page_plays_the_concern_through_the_dashboard_not_twilio(
        database: Database, clock: FixedClock, session: Session, twilio: str) -> None:
    carer, adult = make_care_worker(session), make_adult(session)
    planned = make_planned_visit(session, adult, [carer], start=datetime(2026, 1, 13, 8, 30,
                                                                         tzinfo=UTC))
    visit = ActualVisit(care_worker_id=carer.id, adult_id=adult.id, planned_visit_id=planned.id,
                        state=ActualVisitState.CLOSED,
                        started_at=datetime(2026, 1, 13, 8, 31, tzinfo=UTC),
                        ended_at=datetime(2026, 1, 13, 9, 0, tzinfo=UTC),
                        created_at=datetime(2026, 1, 13, 8, 31, tzinfo=UTC))
    session.add(visit)
    session.flush()
    concern_id = _concern(session, twilio + RECORDING_PATH, visit.id)
    make_office_user(session, "cora", OfficeRole.COORDINATOR)
    office = _office(database, clock, twilio)
    office.login("cora")
    page = office.get(f"/office/visits/{planned.ref}").get_data(as_text=True)
    assert f'src="/office/concerns/{concern_id}/recording"' in page
    assert "api.twilio.com" not in page and twilio not in page
