"""/api/v1/texts and /api/v1/sms-opt-outs: inbound texts as evidence, and who texted STOP."""

from __future__ import annotations

from flask import Response, request

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.paging import page_request, paged
from ivr_gateway.api.payload import day_arg, json_response
from ivr_gateway.api.schemas import OptOutOut, OptOutsResponse, TextOut, TextsResponse
from ivr_gateway.rota.service import InvalidRota
from ivr_gateway.sms.texts import opted_out_numbers, texts_for_day

_BOOLEANS = {"true": True, "false": False}  # as the document says: a boolean


@blueprint.get("/texts")
def texts() -> Response:
    """The inbound texts of one local day, matched or not."""
    day = day_arg()
    flag = request.args.get("needs_office")
    needs_office = None if flag is None else _BOOLEANS.get(flag)
    if flag is not None and needs_office is None:
        raise InvalidRota.of("needs_office", f"give true or false, not {flag!r}")
    page = page_request()
    settings = extensions.settings()
    with extensions.database().unit_of_work() as session:
        records = texts_for_day(session, day, settings, needs_office)
    chosen, next_cursor = paged(records, lambda r: (r.received_at.isoformat(), r.message_sid),
                                page)
    return json_response(TextsResponse(date=day.isoformat(), timezone=settings.timezone, texts=[
        TextOut.model_validate(r, from_attributes=True) for r in chosen],
        next_cursor=next_cursor))


@blueprint.get("/sms-opt-outs")
def sms_opt_outs() -> Response:
    """Numbers that texted STOP (so the office knows who cannot receive texts)."""
    page = page_request()
    with extensions.database().unit_of_work() as session:
        records = opted_out_numbers(session)
    chosen, next_cursor = paged(records, lambda r: (r.since.isoformat(), r.number), page)
    return json_response(OptOutsResponse(opt_outs=[
        OptOutOut.model_validate(r, from_attributes=True) for r in chosen],
        next_cursor=next_cursor))
