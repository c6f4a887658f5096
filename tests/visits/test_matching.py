"""Matching a log-in (or a lone log-out) to the client's planned visits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ivr_gateway.visits.matching import (
    Candidate,
    MatchKind,
    match_log_in,
    match_log_out_without_log_in,
)

AMY, BOB, CAT = 1, 2, 3
WINDOW = timedelta(minutes=180)
DAY = datetime(2026, 1, 13, tzinfo=UTC)


def _at(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


def _visit(pv_id: int, start: datetime, carers: set[int], logged_in: set[int] | None = None,
           minutes: int = 30) -> Candidate:
    return Candidate(pv_id, f"V{pv_id}", start, start + timedelta(minutes=minutes),
                     frozenset(carers), frozenset(logged_in or set()))


def test_log_in_matches_own_planned_visit_nearest_in_time() -> None:
    visits = [_visit(1, _at(8), {AMY}), _visit(2, _at(10), {AMY}), _visit(3, _at(9, 30), {BOB})]
    match = match_log_in(AMY, _at(9, 20), visits, WINDOW)
    assert match.kind == MatchKind.PLANNED
    assert match.candidate is not None and match.candidate.ref == "V2"
    assert "own planned visit V2" in match.reason and "40 min before" in match.reason


def test_own_visit_is_preferred_to_a_nearer_visit_of_another_carer() -> None:
    visits = [_visit(1, _at(9), {BOB}), _visit(2, _at(10), {AMY})]
    match = match_log_in(AMY, _at(9), visits, WINDOW)
    assert (match.kind, match.candidate and match.candidate.ref) == (MatchKind.PLANNED, "V2")


def test_visit_already_logged_into_by_this_carer_is_not_matched_again() -> None:
    # Second visit of the day at the same client: the morning visit is nearer to 09:59 than
    # the 11:00 one, but Amy already logged into it.
    visits = [_visit(1, _at(9), {AMY}, logged_in={AMY}), _visit(2, _at(11), {AMY})]
    match = match_log_in(AMY, _at(9, 59), visits, WINDOW)
    assert (match.kind, match.candidate and match.candidate.ref) == (MatchKind.PLANNED, "V2")


def test_another_carers_visit_is_a_substitution() -> None:
    visits = [_visit(1, _at(9), {BOB})]
    match = match_log_in(AMY, _at(9, 5), visits, WINDOW)
    assert match.kind == MatchKind.SUBSTITUTION
    assert match.candidate is not None and match.candidate.ref == "V1"
    assert "another carer" in match.reason


def test_substitution_prefers_a_visit_still_needing_a_carer() -> None:
    visits = [_visit(1, _at(9), {BOB}, logged_in={BOB}), _visit(2, _at(10), {CAT})]
    match = match_log_in(AMY, _at(9), visits, WINDOW)
    assert (match.kind, match.candidate and match.candidate.ref) == (MatchKind.SUBSTITUTION, "V2")


def test_log_in_outside_the_window_is_unplanned() -> None:
    visits = [_visit(1, _at(9), {AMY})]
    match = match_log_in(AMY, _at(12, 1), visits, WINDOW)
    assert match.kind == MatchKind.UNPLANNED and match.candidate is None
    assert "180 min" in match.reason
    assert match_log_in(AMY, _at(12), visits, WINDOW).kind == MatchKind.PLANNED  # edge: inside


def test_log_in_with_no_planned_visits_is_unplanned() -> None:
    assert match_log_in(AMY, _at(9), [], WINDOW).kind == MatchKind.UNPLANNED


def test_double_up_visit_matches_each_of_its_two_carers() -> None:
    double_up = _visit(1, _at(9), {AMY, BOB})
    first = match_log_in(AMY, _at(8, 58), [double_up], WINDOW)
    assert (first.kind, first.candidate) == (MatchKind.PLANNED, double_up)
    after_amy = _visit(1, _at(9), {AMY, BOB}, logged_in={AMY})
    second = match_log_in(BOB, _at(9, 3), [after_amy], WINDOW)
    assert (second.kind, second.candidate) == (MatchKind.PLANNED, after_amy)


def test_log_out_without_log_in_matches_nearest_planned_end() -> None:
    visits = [_visit(1, _at(8), {AMY}), _visit(2, _at(9), {AMY})]
    match = match_log_out_without_log_in(AMY, _at(9, 35), visits, WINDOW)
    assert (match.kind, match.candidate and match.candidate.ref) == (MatchKind.PLANNED, "V2")
    assert "no log-in" in match.reason
