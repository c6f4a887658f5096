"""The board at size: pages of 100, search, grouping by carer, the 304 refresh, a session ended."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.office import board, board_index, board_page
from ivr_gateway.office import reason_codes as office_reason_codes
from ivr_gateway.office.board_page import PAGE_SIZE
from ivr_gateway.visits import queries
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.office.conftest import Office

SIX_AM = datetime(2026, 1, 13, 6, 0, tzinfo=UTC)


def _busy_day(session: Session, visits: int = 250) -> None:
    """`visits` visits a minute apart from 06:00: Joan Smith's with Amy Jones, Edith Clarke's
    with Ben Taylor, alternately."""
    joan = make_adult(session, ref="A1")
    edith = make_adult(session, ref="A2", given_name="Edith", family_name="Clarke",
                       landlines=("+441134960003",))
    amy = make_care_worker(session, ref="C1", staff_number="1234")
    ben = make_care_worker(session, ref="C2", staff_number="2345", given_name="Ben",
                           family_name="Taylor")
    for n in range(visits):
        adult, carer = (joan, amy) if n % 2 == 0 else (edith, ben)
        make_planned_visit(session, adult, [carer], start=SIX_AM + timedelta(minutes=n),
                           ref=f"V{n:04d}")
    session.commit()


def _refs(page: str) -> list[str]:
    return re.findall(r'<tr class="row-[^"]*" data-ref="([^"]*)"', page)


def test_a_big_day_is_shown_a_hundred_rows_a_page_with_the_counts_of_the_whole_day(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _busy_day(session)
    clock.set(SIX_AM + timedelta(hours=8))  # every visit is missed by now
    first = as_coordinator.get("/office/").get_data(as_text=True)
    assert _refs(first) == [f"V{n:04d}" for n in range(PAGE_SIZE)]
    assert "<strong>250</strong> visits" in first  # counts over the day, not the page
    assert "<strong>250</strong> missed" in first
    assert "page 1 of 3" in first and "Next page" in first
    last = as_coordinator.get("/office/?page=3").get_data(as_text=True)
    assert _refs(last) == [f"V{n:04d}" for n in range(200, 250)]
    assert "Previous page" in last and "Next page" not in last
    beyond = as_coordinator.get("/office/?page=99").get_data(as_text=True)
    assert _refs(beyond) == _refs(last)  # a page past the end shows the last one


def test_search_finds_visits_by_client_or_carer_name_or_reference(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _busy_day(session, visits=10)
    clock.set(SIX_AM)
    edith = _refs(as_coordinator.get("/office/?q=edith").get_data(as_text=True))
    assert edith == ["V0001", "V0003", "V0005", "V0007", "V0009"]
    assert _refs(as_coordinator.get("/office/?q=Ben+Tay").get_data(as_text=True)) == edith
    assert _refs(as_coordinator.get("/office/?q=c1").get_data(as_text=True)) == [
        "V0000", "V0002", "V0004", "V0006", "V0008"]
    assert _refs(as_coordinator.get("/office/?q=V0003").get_data(as_text=True)) == ["V0003"]
    nothing = as_coordinator.get("/office/?q=100%25_").get_data(as_text=True)
    assert _refs(nothing) == [] and "No visits match." in nothing  # % and _ are literal


def test_grouping_by_carer_puts_each_carers_visits_under_their_name(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _busy_day(session, visits=6)
    clock.set(SIX_AM)
    page = as_coordinator.get("/office/?group=carer").get_data(as_text=True)
    heads = re.findall(r'<th scope="rowgroup" colspan="7">([^<]*)</th>', page)
    assert heads == ["Amy Jones", "Ben Taylor"]  # by family name
    assert _refs(page) == ["V0000", "V0002", "V0004", "V0001", "V0003", "V0005"]
    assert page.index("Amy Jones</th>") < page.index('data-ref="V0000"') \
        < page.index("Ben Taylor</th>") < page.index('data-ref="V0001"')


def test_the_live_refresh_keeps_the_search_grouping_and_page(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _busy_day(session, visits=10)
    clock.set(SIX_AM)
    page = as_coordinator.get("/office/?q=edith&group=carer").get_data(as_text=True)
    url = re.search(r'data-refresh-url="([^"]+)"', page)
    assert url is not None
    live = as_coordinator.get(url.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _refs(live) == ["V0001", "V0003", "V0005", "V0007", "V0009"]
    assert "Ben Taylor</th>" in live


def test_the_live_refresh_answers_304_until_something_changes(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _busy_day(session, visits=4)
    clock.set(SIX_AM + timedelta(seconds=5))
    first = as_coordinator.get("/office/board/live")
    assert first.status_code == 200 and first.headers["ETag"]
    etag = first.headers["ETag"]
    same = as_coordinator.get("/office/board/live", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.get_data() == b""
    # A new visit on the rota changes the day: the rows come again, with a new ETag.
    make_planned_visit(session, make_adult(session, ref="A9", given_name="Nora",
                                           landlines=("+441134960009",)),
                       [], start=SIX_AM + timedelta(minutes=30), ref="NEW")
    session.commit()
    changed = as_coordinator.get("/office/board/live", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "NEW" in _refs(changed.get_data(as_text=True))
    assert changed.headers["ETag"] != etag
    # The clock alone moves verdicts (late after 30 minutes): a new minute, a new answer.
    again = changed.headers["ETag"]
    clock.set(SIX_AM + timedelta(minutes=1, seconds=5))
    assert as_coordinator.get("/office/board/live",
                              headers={"If-None-Match": again}).status_code == 200


def test_a_refresh_whose_session_ended_gets_401_not_the_login_page(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _busy_day(session, visits=2)
    clock.set(SIX_AM)
    assert as_coordinator.get("/office/board/live").status_code == 200
    as_coordinator.post("/office/logout")  # as a logout on another device would end it
    ended = as_coordinator.get("/office/board/live")
    assert ended.status_code == 401
    assert ended.headers["X-Office-Session"] == "ended"
    assert "Your session has ended: log in again." in ended.get_data(as_text=True)
    assert "data-ref" not in ended.get_data(as_text=True)


def test_the_board_carries_the_live_regions_for_focus_announcements_and_banners(
        as_coordinator: Office, session: Session, clock: FixedClock) -> None:
    _busy_day(session, visits=2)
    clock.set(SIX_AM)
    page = as_coordinator.get("/office/").get_data(as_text=True)
    assert 'id="board-announce" class="visually-hidden" aria-live="polite"' in page
    assert 'id="board-banner" class="board-banner" role="alert" hidden' in page
    assert 'data-key="p:V0000"' in page and 'data-initials="J.S."' in page


def test_on_a_big_day_rows_are_judged_now_and_counts_come_from_the_day_index(
        as_coordinator: Office, session: Session, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(board_page, "SMALL_DAY", 1)  # any day is "big": the index path
    monkeypatch.setattr(board_page, "INDEX_MAX_AGE", timedelta(days=1))  # no rebuild thread
    board_page.forget_indexes()
    _busy_day(session, visits=4)
    clock.set(SIX_AM + timedelta(minutes=10))
    first = as_coordinator.get("/office/").get_data(as_text=True)
    assert "<strong>4</strong> visits" in first and "counts as of" not in first
    clock.set(SIX_AM + timedelta(minutes=40))  # V0000 and V0001 are now late
    later = as_coordinator.get("/office/").get_data(as_text=True)
    assert '<tr class="row-late" data-ref="V0000"' in later  # the rows: judged now
    assert "<strong>0</strong> late" in later  # the counts: the index of 06:10, said so
    assert "counts as of 06:10:00" in later
    board_page.forget_indexes()


def test_a_visit_page_judges_its_own_visit_and_never_loads_the_whole_day(
        as_coordinator: Office, session: Session, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _busy_day(session, visits=6)
    clock.set(SIX_AM + timedelta(hours=1))

    def whole_day(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the visit page loaded the whole day")
    for module in (board, board_index, office_reason_codes, queries):
        monkeypatch.setattr(module, "visits_for_day", whole_day)
    page = as_coordinator.get("/office/visits/V0003")
    assert page.status_code == 200
    assert "Edith Clarke" in page.get_data(as_text=True)
