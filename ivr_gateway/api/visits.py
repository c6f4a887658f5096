"""/api/v1/visits: a local day's visits with actual times, outcomes and exceptions."""

from __future__ import annotations

from flask import Response

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.paging import Key, page_request, paged
from ivr_gateway.api.payload import day_arg, json_response
from ivr_gateway.api.schemas import VisitOut, VisitsResponse
from ivr_gateway.visits.queries import visits_for_day
from ivr_gateway.visits.summary import VisitSummary


def visit_key(summary: VisitSummary) -> Key:
    """Planned visits by planned start and ref, then unplanned ones by start and carer."""
    if summary.ref is not None and summary.planned_start is not None:
        return (0, summary.planned_start.isoformat(), summary.ref)
    when = summary.actual_start or summary.actual_end
    return (1, when.isoformat() if when else "", ",".join(summary.care_worker_refs))


@blueprint.get("/visits")
def visits() -> Response:
    """The visits of one local day with actual times, outcomes and exceptions."""
    day = day_arg()
    page = page_request()
    settings = extensions.settings()
    with extensions.database().unit_of_work() as session:
        summaries = visits_for_day(session, day, settings, extensions.clock().now())
    chosen, next_cursor = paged(summaries, visit_key, page)
    return json_response(VisitsResponse(date=day.isoformat(), timezone=settings.timezone,
                                        visits=[VisitOut.of(s) for s in chosen],
                                        next_cursor=next_cursor))
