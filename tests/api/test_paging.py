"""Every list in /api/v1 pages by an opaque cursor: walking the pages gives each item once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from ivr_gateway.api.paging import MAX_PAGE_SIZE
from ivr_gateway.escalation.models import Alert, AlertKind
from ivr_gateway.sms.models import InboundText, TextStatus
from tests.api.conftest import Api, adult_body, care_worker_body, visit_body


def _walk(api: Api, path: str, field: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, page by page; and how many pages it took."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    separator = "&" if "?" in path else "?"
    while True:
        url = f"{path}{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = api.get(url)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert len(body[field]) <= limit
        items += body[field]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert pages < 100


def _day_of_visits(api: Api, visits: int) -> list[str]:
    api.put("/adults/A1", adult_body())
    api.put("/care-workers/C1", care_worker_body())
    refs = []
    for n in range(visits):
        start = datetime(2026, 1, 13, 7, tzinfo=UTC) + timedelta(minutes=40 * (n // 2))
        ref = f"V{n:02d}"
        api.put(f"/planned-visits/{ref}", visit_body(
            planned_start=start.isoformat(), planned_end=(start + timedelta(minutes=30))
            .isoformat()))  # two visits share each start: the ref breaks the tie
        refs.append(ref)
    return refs


def test_the_visits_of_a_day_are_walked_page_by_page_each_once_in_order(api: Api) -> None:
    refs = _day_of_visits(api, 7)
    walked, pages = _walk(api, "/visits?date=2026-01-13", "visits", 3)
    assert [v["ref"] for v in walked] == refs
    assert pages == 3
    whole = api.get("/visits?date=2026-01-13").get_json()
    assert [v["ref"] for v in whole["visits"]] == refs
    assert whole["next_cursor"] is None


def test_a_visit_added_between_pages_does_not_shift_the_others(api: Api) -> None:
    refs = _day_of_visits(api, 4)
    first = api.get("/visits?date=2026-01-13&limit=2").get_json()
    api.put("/planned-visits/EARLY", visit_body(planned_start="2026-01-13T06:00:00Z",
                                                planned_end="2026-01-13T06:30:00Z"))
    rest = api.get(f"/visits?date=2026-01-13&limit=2&cursor={first['next_cursor']}").get_json()
    assert [v["ref"] for v in first["visits"] + rest["visits"]] == refs


def test_a_cursor_of_another_day_or_a_made_up_one_is_refused(api: Api) -> None:
    _day_of_visits(api, 3)
    cursor = api.get("/visits?date=2026-01-13&limit=1").get_json()["next_cursor"]
    other_day = api.get(f"/visits?date=2026-01-14&cursor={cursor}")
    assert other_day.status_code == 422
    assert other_day.get_json()["error"]["fields"][0]["field"] == "cursor"
    assert api.get("/visits?date=2026-01-13&cursor=not-a-cursor").status_code == 422
    too_many = api.get(f"/visits?date=2026-01-13&limit={MAX_PAGE_SIZE + 1}")
    assert too_many.status_code == 422
    assert str(MAX_PAGE_SIZE) in too_many.get_json()["error"]["message"]


def _alerts(session: Session, number: int) -> list[int]:
    now = datetime(2026, 1, 13, 9, tzinfo=UTC)
    alerts = [Alert(kind=AlertKind.MISSED_VISIT, subject_key=f"visit:{n}", summary="J.S. 08:00",
                    deadline_at=now, raised_at=now, number=n) for n in range(number)]
    session.add_all(alerts)
    session.commit()
    return sorted((a.id for a in alerts), reverse=True)


def _texts(session: Session, number: int) -> list[str]:
    at = datetime(2026, 1, 13, 9, tzinfo=UTC)
    texts = [InboundText(message_sid=f"SM{n:032d}", from_number="+447400123456",
                         received_at=at + timedelta(minutes=n // 2), status=TextStatus.LOGGED)
             for n in range(number)]
    session.add_all(texts)
    session.commit()
    return [t.message_sid for t in texts]


@pytest.mark.parametrize(("path", "field", "arrange", "identify"), [
    ("/alerts", "alerts", _alerts, lambda item: item["id"]),
    ("/alerts?state=open", "alerts", _alerts, lambda item: item["id"]),
    ("/texts?date=2026-01-13", "texts", _texts, lambda item: item["message_sid"]),
])
def test_alerts_and_texts_page_newest_or_oldest_first_each_once(
        api: Api, session: Session, path: str, field: str,
        arrange: Callable[[Session, int], list[Any]],
        identify: Callable[[dict[str, Any]], Any]) -> None:
    expected = arrange(session, 9)
    walked, pages = _walk(api, path, field, 4)
    assert [identify(item) for item in walked] == expected
    assert pages == 3


def test_office_contacts_page_too(api: Api) -> None:
    for n in range(5):
        api.post("/office-contacts", {"name": f"Max {n}", "role": "coordinator",
                                      "mobile": f"07400 2000{n:02d}"})
    walked, pages = _walk(api, "/office-contacts", "contacts", 2)
    assert sorted(c["name"] for c in walked) == [f"Max {n}" for n in range(5)]
    assert len({c["id"] for c in walked}) == 5
    assert pages == 3


def test_webhook_subscriptions_page_too(api: Api) -> None:
    for n in range(5):
        assert api.post("/webhooks/subscriptions", {
            "url": f"https://rota{n}.example.org/hooks"}).status_code == 201
    walked, pages = _walk(api, "/webhooks/subscriptions", "subscriptions", 2)
    assert [s["url"] for s in walked] == [f"https://rota{n}.example.org/hooks" for n in range(5)]
    assert pages == 3
