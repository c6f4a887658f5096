"""The carers and clients pages: 50 at a time in name order, found by name, number or phone."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy.orm import Session

from tests.factories import make_adult, make_care_worker
from tests.office.conftest import Office


def _names(page: str) -> list[str]:
    """The names in the table, in order ('Family, Given')."""
    return [unescape(n) for n in re.findall(r'<td><a href="/office/(?:care-workers|adults)/'
                                            r'[^"]+">([^<]+)</a></td>', page)]


def _carers(session: Session, n: int) -> None:
    for i in range(n):
        make_care_worker(session, staff_number=f"{1000 + i}", given_name=f"Given{i:03d}",
                         family_name=f"Family{i:03d}", ref=f"C{i:03d}",
                         mobiles=(f"+4479111{i:05d}",))
    session.commit()


def test_the_carers_page_shows_fifty_at_a_time_in_name_order_with_next_and_previous(
    as_coordinator: Office, session: Session
) -> None:
    _carers(session, 120)
    first = as_coordinator.get("/office/care-workers").get_data(as_text=True)
    assert _names(first) == [f"Family{i:03d}, Given{i:03d}" for i in range(50)]
    assert "1–50 of 120 working carers, page 1 of 3" in unescape(first)
    assert 'href="/office/care-workers?page=2">Next page' in first
    assert "Previous page" not in first

    last = as_coordinator.get("/office/care-workers?page=3").get_data(as_text=True)
    assert _names(last) == [f"Family{i:03d}, Given{i:03d}" for i in range(100, 120)]
    assert "101–120 of 120 working carers, page 3 of 3" in unescape(last)
    assert "Next page" not in last and "?page=2\">Previous page" in last
    # A page past the end, or nonsense, shows a real page rather than an empty one or a 500.
    assert _names(as_coordinator.get("/office/care-workers?page=99").get_data(as_text=True)) \
        == _names(last)
    assert _names(as_coordinator.get("/office/care-workers?page=x").get_data(as_text=True)) \
        == _names(first)


def test_carers_are_found_by_name_words_number_and_mobile_typed_any_way(
    as_coordinator: Office, session: Session
) -> None:
    _carers(session, 60)
    make_care_worker(session, staff_number="7777", given_name="Amy", family_name="O'Neil_Jones",
                     ref="C-AMY", mobiles=("+447911123450",))
    session.commit()

    def found(q: str) -> list[str]:
        return _names(as_coordinator.get("/office/care-workers", query_string={"q": q})
                      .get_data(as_text=True))

    assert found("amy") == ["O'Neil_Jones, Amy"]
    assert found("jones AMY") == ["O'Neil_Jones, Amy"]  # every word, any order, any case
    assert found("7777") == ["O'Neil_Jones, Amy"]  # carer number
    assert found("07911 123450") == ["O'Neil_Jones, Amy"]  # the mobile as people write it
    assert found("+447911123450") == ["O'Neil_Jones, Amy"]
    assert found("Family05") == [f"Family05{i}, Given05{i}" for i in range(10)]
    assert found("_") == ["O'Neil_Jones, Amy"]  # a LIKE wildcard is just a character
    page = as_coordinator.get("/office/care-workers?q=nobody").get_data(as_text=True)
    assert "No working carers match “nobody”." in unescape(page)
    # The search is kept in the box and in the pager's links.
    many = as_coordinator.get("/office/care-workers?q=Given").get_data(as_text=True)
    assert 'value="Given"' in many and "?q=Given&amp;page=2" in many


def test_the_clients_page_pages_and_finds_by_name_client_number_and_landline(
    as_coordinator: Office, session: Session
) -> None:
    for i in range(55):
        make_adult(session, given_name=f"Given{i:02d}", family_name=f"Family{i:02d}",
                   ref=f"A{i:02d}", client_number=f"{200000 + i}",
                   landlines=(f"+4411349{i:05d}",))
    make_adult(session, given_name="Joan", family_name="Smith", ref="A-JOAN",
               client_number="246810", landlines=("+441134960001",))
    session.commit()
    first = as_coordinator.get("/office/adults").get_data(as_text=True)
    assert len(_names(first)) == 50
    assert "1–50 of 56 clients, page 1 of 2" in unescape(first)
    second = as_coordinator.get("/office/adults?page=2").get_data(as_text=True)
    assert _names(second)[-1] == "Smith, Joan"

    def found(q: str) -> list[str]:
        return _names(as_coordinator.get("/office/adults", query_string={"q": q})
                      .get_data(as_text=True))

    assert found("joan smith") == ["Smith, Joan"]
    assert found("246810") == ["Smith, Joan"]
    assert found("0113 496 0001") == ["Smith, Joan"]
    assert found("A-JOAN") == ["Smith, Joan"]
