"""/api/v1/visits: a local day's visits with actual times, outcomes and exceptions."""

from __future__ import annotations

from flask import Response

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.payload import day_arg, json_response
from ivr_gateway.api.schemas import VisitOut, VisitsResponse
from ivr_gateway.visits.queries import visits_for_day


@blueprint.get("/visits")
def visits() -> Response:
    """The visits of one local day with actual times, outcomes and exceptions."""
    day = day_arg()
    settings = extensions.settings()
    with extensions.database().unit_of_work() as session:
        summaries = visits_for_day(session, day, settings, extensions.clock().now())
        out = [VisitOut.of(s) for s in summaries]
    return json_response(VisitsResponse(date=day.isoformat(), timezone=settings.timezone,
                                        visits=out))
