"""Every dashboard page passes axe-core with zero violations, at desktop and phone widths.

axe-core comes from npm, pinned in tests/a11y/package-lock.json and installed by `npm ci`
(scripts/setup-a11y, run by .ci/run); Playwright injects its axe.min.js into each page of a live
gateway in Debian's chromium and runs every rule axe runs by default (WCAG 2.x A and AA, and
axe's best practices). The pages are the GET routes of the office blueprint in the app's url_map:
each is checked or listed below as not a page, with the reason, so a new page cannot be
forgotten. Screenshots of every page go to test-artifacts/a11y/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, template_rendered
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import PROJECT_ROOT, Settings
from ivr_gateway.db import Database
from ivr_gateway.demo import load_demo_rota
from ivr_gateway.ecc.kept_reports import claim_report, settings_key, work_out_report
from ivr_gateway.escalation.models import ContactRole, OfficeContact, OnCallPeriod
from ivr_gateway.models import ActualVisit, LogEvent
from ivr_gateway.office.display import create_display_link, revoke_display_link
from ivr_gateway.office.models import OfficeRole
from ivr_gateway.office.providers import register_alert_source
from ivr_gateway.rota.models import RotaImport, RotaImportState
from ivr_gateway.simulator import PhoneSimulator
from tests.factories import make_adult
from tests.live_server import serving
from tests.office.browser import ARTIFACTS, BROWSER_MARKS, log_in
from tests.office.conftest import make_office_user
from tests.office.fakes import FakeAlerts, late_alert

AXE = PROJECT_ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
NOW = datetime(2026, 7, 7, 8, 0, tzinfo=UTC)  # Tuesday 09:00 in London (BST)
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@dataclass(frozen=True)
class Seeded:
    """The ids of the records the parameterised pages show."""

    log_event_id: int
    unplanned_id: int
    contact_id: int
    period_id: int
    import_id: int
    display_token: str
    revoked_token: str


# endpoint -> the paths to check (from the seeded records). Logged in as an administrator,
# who may see every page; the login page and the wall screen are checked logged out.
PAGES: dict[str, Callable[[Seeded], list[str]]] = {
    "office.board": lambda s: ["/office/", "/office/?group=carer&status=attention"],
    "office.visit": lambda s: ["/office/visits/DEMO-2", "/office/visits/DEMO-1"],
    "office.unplanned_visit": lambda s: [f"/office/unplanned/{s.unplanned_id}"],
    "office.alerts": lambda s: ["/office/alerts"],
    "office.reasons": lambda s: ["/office/reasons"],
    "office.unmatched": lambda s: ["/office/unmatched"],
    "office.move_log_event": lambda s: [f"/office/log-events/{s.log_event_id}/move"],
    "office.adults": lambda s: ["/office/adults"],
    "office.adult": lambda s: ["/office/adults/ECC-1001"],
    "office.care_workers": lambda s: ["/office/care-workers"],
    "office.care_worker": lambda s: ["/office/care-workers/EMP-1234"],
    "office.on_call": lambda s: ["/office/on-call"],
    "office.contact": lambda s: [f"/office/on-call/contacts/{s.contact_id}"],
    "office.deactivate_contact": lambda s: [f"/office/on-call/contacts/{s.contact_id}/deactivate"],
    "office.remove_on_call": lambda s: [f"/office/on-call/periods/{s.period_id}/remove"],
    # The kept report "as of" its time, and a range whose report is still being worked out.
    "office.kpi": lambda s: ["/office/kpi", "/office/kpi?from=2026-06-29&to=2026-07-05"],
    "office.rota_upload": lambda s: ["/office/rota"],
    "office.rota_import": lambda s: [f"/office/rota/imports/{s.import_id}"],
    "office.office_users": lambda s: ["/office/users"],
    "office.office_user": lambda s: ["/office/users/cora"],
    "office.deactivate_office_user": lambda s: ["/office/users/cora/deactivate"],
    "office.change_password": lambda s: ["/office/password"],
    "office.api_tokens": lambda s: ["/office/api-tokens"],
    "office.revoke_api_token": lambda s: ["/office/api-tokens/1/revoke"],
    "office.display_links": lambda s: ["/office/display-links"],
    "office.revoke_display": lambda s: ["/office/display-links/1/revoke"],
    "office.not_a_page": lambda s: ["/office/visits/NO-SUCH-VISIT"],  # the error page
}
LOGGED_OUT_PAGES: dict[str, Callable[[Seeded], list[str]]] = {
    "office.login": lambda s: ["/office/login"],
    "office.display": lambda s: [f"/office/display/{s.display_token}",
                                 f"/office/display/{s.revoked_token}"],
}
NOT_PAGES = {
    "office.static": "stylesheets and scripts",
    "office.board_live": "the board's rows, checked inside the board page",
    "office.display_live": "the wall screen's rows, checked inside the display page",
    "office.kpi_download": "a file to download (the report or a CSV)",
    "office.rota_template": "a CSV file to download",
    "office.rota_import_status": "JSON for the import page's progress poll",
    "office.kpi_status": "JSON for the KPI page's poll while a report is worked out",
    "office.concern_recording": "a carer's recorded concern, audio",
}


def _send_ben_instead(page: Any, base_url: str) -> str:
    """The confirmation of sending another carer (a POST's page), with Ben's clash shown."""
    page.goto(f"{base_url}/office/visits/DEMO-2")
    page.locator("#re-to").select_option("EMP-3456")
    page.locator("#re-reason").fill("Amy is unwell today")
    page.get_by_role("button", name="Reassign…").click()
    page.get_by_role("heading", level=1).wait_for()
    return "reassign-confirm"


def _upload_a_past_row(page: Any, base_url: str) -> str:
    """The rota upload's warning about rows in the past (a POST's page), before importing."""
    template = page.request.get(f"{base_url}/office/rota/template.csv").text()
    past = template.replace("2026-07-08", "2026-07-06")  # the template's tomorrow, made past
    page.goto(f"{base_url}/office/rota")
    page.get_by_label("CSV file").set_input_files(files=[{
        "name": "rota.csv", "mimeType": "text/csv", "buffer": past.encode()}])
    page.get_by_role("button", name="Upload").click()
    page.locator("#past-rows").wait_for()
    return "rota-past-rows"


def _refused_password(page: Any, base_url: str) -> str:
    """A refused form: the error said at the top, the page as it was."""
    page.goto(f"{base_url}/office/password")
    page.get_by_label("Current password").fill("not my password at all")
    page.locator("#password").fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    page.locator(".flash-error").wait_for()
    return "password-refused"


# Pages that only a form's answer shows: reached by filling the form in, then checked.
FLOWS: list[Callable[[Any, str], str]] = [_send_ben_instead, _upload_a_past_row,
                                          _refused_password]
TEMPLATES = PROJECT_ROOT / "ivr_gateway" / "office" / "templates" / "office"


def _office_get_endpoints(app: Flask) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("office.") and "GET" in (rule.methods or set())}


def test_every_dashboard_page_is_checked_or_said_not_to_be_a_page(app: Flask) -> None:
    endpoints = _office_get_endpoints(app)
    checked = (set(PAGES) | set(LOGGED_OUT_PAGES)) - {"office.not_a_page"}
    assert endpoints - checked - set(NOT_PAGES) == set(), (
        "a new dashboard page: add it to PAGES (or NOT_PAGES, with the reason)")
    assert checked | set(NOT_PAGES) <= endpoints  # nothing listed that is gone


def _seed(session: Session, database: Database, clock: FixedClock,
          simulator: PhoneSimulator) -> Seeded:
    simulator.call("01134960001", ["1234", "4721"])  # Amy at Joan's: DEMO-1 in progress
    simulator.call("01134960009", ["3456", "8052"])  # Ben at Olga's, not on the rota: unplanned
    with database.unit_of_work() as db:
        log_event_id = db.scalars(select(LogEvent.id).order_by(LogEvent.id)).first()
        unplanned_id = db.scalars(select(ActualVisit.id).where(
            ActualVisit.planned_visit_id.is_(None))).one()
        contact = OfficeContact(name="Cora Coordinator", role=ContactRole.COORDINATOR,
                                mobile="+447911123499", active=True, created_at=NOW)
        db.add(contact)
        db.flush()
        period = OnCallPeriod(contact_id=contact.id, starts_at=NOW + timedelta(hours=9),
                              ends_at=NOW + timedelta(hours=23), created_by="office:ada",
                              created_at=NOW)
        job = RotaImport(who="office:ada", file_name="rota.csv", state=RotaImportState.RUNNING,
                         rows_total=10, rows_done=4, created_at=NOW, updated_at=NOW)
        db.add_all([period, job])
        _link, token = create_display_link(db, "Office wall", now=NOW, actor="office:ada")
        _gone, revoked = create_display_link(db, "Old screen", now=NOW, actor="office:ada")
        db.flush()
        revoke_display_link(db, name="Old screen", now=NOW, actor="office:ada")
        seeded = Seeded(log_event_id or 0, unplanned_id, contact.id, period.id, job.id, token,
                        revoked)
    # The KPI page's two states: this week's report kept and current; another week's being
    # worked out by a worker that holds its lease (the fixed clock never lets it run out).
    settings, today = Settings(database_url=database.url), clock.now().date()
    worker = claim_report(database, today - timedelta(days=6), today, settings_key(settings),
                          clock.now())
    assert worker is not None
    work_out_report(database, settings, clock, today - timedelta(days=6), today, worker)
    assert claim_report(database, date(2026, 6, 29), date(2026, 7, 5), settings_key(settings),
                        clock.now()) is not None
    return seeded


@pytest.fixture
def live(database: Database, clock: FixedClock, session: Session
         ) -> Iterator[tuple[str, Seeded, set[str]]]:
    """The demo day on a real port, an open alert on DEMO-2, and a record for every page."""
    clock.set(NOW)
    settings = Settings(database_url=database.url)
    load_demo_rota(session, NOW, settings)
    make_adult(session, ref="ECC-1009", given_name="Olga", family_name="Ward",
               landlines=("+441134960009",), client_number="100009")
    session.commit()
    make_office_user(session, "ada", OfficeRole.ADMINISTRATOR)
    make_office_user(session, "cora", OfficeRole.COORDINATOR)
    clock.advance(minutes=20)  # DEMO-2 is late, with its alert open
    alerts = FakeAlerts([late_alert("DEMO-2", NOW + timedelta(minutes=5))])

    def app_at(base_url: str) -> Flask:
        app = create_app(Settings(database_url=database.url, public_base_url=base_url),
                         database, clock)
        app.config["OFFICE_BOARD_REFRESH_SECONDS"] = 0  # still pages: nothing moves under axe
        app.config["KPI_INLINE_VISITS"] = 0  # the KPI page as a county sees it (kept reports)
        register_alert_source(app, alerts)
        template_rendered.connect(lambda _app, template, context, **_: rendered.add(
            str(template.name)), app, weak=False)
        return app

    rendered: set[str] = set()
    (ARTIFACTS / "a11y").mkdir(parents=True, exist_ok=True)
    with serving(app_at) as base_url:
        public = Settings(database_url=database.url, public_base_url=base_url)
        simulator = PhoneSimulator(base_url, public.twilio_auth_token,
                                   account_sid=public.twilio_account_sid,
                                   gateway_number=public.twilio_phone_number)
        yield base_url, _seed(session, database, clock, simulator), rendered


def _violations(page: Any) -> list[str]:
    """axe's violations on the page as 'rule (impact): target, …' lines."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(v => `${v.id} (${v.impact}): ${v.help} :: ` +
            v.nodes.slice(0, 4).map(n => n.target.join(' ')).join(' | '));
    }""")
    return list(found)


def _check(page: Any, base_url: str, path: str, label: str, problems: list[str]) -> None:
    response = page.goto(f"{base_url}{path}")
    assert response is not None
    assert "/office/login" not in page.url or path == "/office/login", f"{path}: not logged in"
    assert response.status in (200, 404, 410), f"{path}: {response.status}"
    problems.extend(f"{path} [{label}] {line}" for line in _violations(page))
    name = path.strip("/").replace("/", "_").replace("?", "_")[:60] or "board"
    page.screenshot(path=str(ARTIFACTS / "a11y" / f"{label}-{name}.png"), full_page=True)


@pytest.mark.parametrize("width", sorted(VIEWPORTS))
@BROWSER_MARKS[0]
@BROWSER_MARKS[1]
@BROWSER_MARKS[2]
def test_every_dashboard_page_has_no_axe_violations(
        browser: Any, live: tuple[str, Seeded, set[str]], width: str) -> None:
    assert AXE.exists(), "axe-core is not installed: run scripts/setup-a11y (npm ci)"
    base_url, seeded, rendered = live
    problems: list[str] = []
    # bypass_csp: the pages allow only their own scripts; axe is injected by the test alone.
    outside = browser.new_context(viewport=VIEWPORTS[width], bypass_csp=True).new_page()
    for paths in LOGGED_OUT_PAGES.values():
        for path in paths(seeded):
            _check(outside, base_url, path, width, problems)
    page = browser.new_context(viewport=VIEWPORTS[width], bypass_csp=True).new_page()
    log_in(page, base_url, "ada")
    for paths in PAGES.values():
        for path in paths(seeded):
            _check(page, base_url, path, width, problems)
    for flow in FLOWS:
        name = flow(page, base_url)
        problems.extend(f"{name} [{width}] {line}" for line in _violations(page))
        page.screenshot(path=str(ARTIFACTS / "a11y" / f"{width}-{name}.png"), full_page=True)
    assert problems == [], "\n".join(problems)
    # Every page template was shown and checked (partials, named _*.html, are in their pages).
    pages = {f"office/{t.name}" for t in TEMPLATES.glob("*.html") if not t.name.startswith("_")}
    assert pages - {"office/base.html"} - rendered == set(), "a template no check shows"
