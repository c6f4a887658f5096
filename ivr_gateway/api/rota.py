"""/api/v1/rota/batch: up to 1,000 adults, care workers and planned visits in one request."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import Response, g
from pydantic import BaseModel, ValidationError

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.errors import ApiError
from ivr_gateway.api.payload import json_object, json_response
from ivr_gateway.api.schemas import (
    ErrorDetail,
    FieldError,
    RotaBatchCounts,
    RotaBatchResponse,
    RotaItemResult,
)
from ivr_gateway.rota.loading import KINDS, MAX_BATCH_ITEMS, Kind, RotaItem, load_rota
from ivr_gateway.rota.problems import FieldProblem, InvalidRota, problems_from
from ivr_gateway.rota.schemas import AdultIn, CareWorkerIn, PlannedVisitIn, validation_context

_MODELS: dict[str, type[BaseModel]] = {
    "adult": AdultIn, "care_worker": CareWorkerIn, "planned_visit": PlannedVisitIn}
MODES = ("all_or_nothing", "per_item")


def _item(raw: Any, context: dict[str, Any]) -> RotaItem:
    # Each item is validated on its own, so one bad item is answered without failing the rest.
    if not isinstance(raw, dict):
        return RotaItem("adult", "", None, [FieldProblem("item", "each item is a JSON object "
                                                         "with kind, ref and the record's "
                                                         "fields")])
    kind, ref = raw.get("kind"), raw.get("ref")
    ref = ref if isinstance(ref, str) else ""
    if kind not in KINDS:
        return RotaItem("adult", ref, None, [FieldProblem(
            "kind", f"{kind!r} is not one of {', '.join(KINDS)}")])
    known: Kind = kind
    fields = {key: value for key, value in raw.items() if key not in ("kind", "ref")}
    try:
        data = _MODELS[known].model_validate(fields, context=context)
    except ValidationError as error:
        return RotaItem(known, ref, None, problems_from(error))
    assert isinstance(data, AdultIn | CareWorkerIn | PlannedVisitIn)
    return RotaItem(known, ref, data)


@blueprint.post("/rota/batch")
def load_rota_batch() -> Response:
    """Upsert up to 1,000 rota records, answered item by item."""
    body = json_object()
    unknown = sorted(set(body) - {"mode", "items"})
    if unknown:
        raise InvalidRota.of(unknown[0], "unknown field; a batch has only mode and items")
    mode = body.get("mode", "all_or_nothing")
    if mode not in MODES:
        raise InvalidRota.of("mode", f"{mode!r} is not all_or_nothing or per_item")
    raw_items = body.get("items")
    if not isinstance(raw_items, list):
        raise InvalidRota.of("items", "give the records as a list: \"items\": [{...}, ...]")
    if len(raw_items) > MAX_BATCH_ITEMS:
        raise ApiError(413, "too_many_items", f"A batch carries at most {MAX_BATCH_ITEMS:,} "
                       f"items; this one has {len(raw_items):,}. Send them in batches of up "
                       f"to {MAX_BATCH_ITEMS:,} (adults and carers before the visits that "
                       "name them, or in the same batch).")
    context = validation_context(extensions.settings())
    items = [_item(raw, context) for raw in raw_items]
    with extensions.database().unit_of_work() as session:
        result = load_rota(session, items, settings=extensions.settings(),
                           now=extensions.clock().now(), actor=g.api_actor,
                           mode="per_item" if mode == "per_item" else "all_or_nothing")
    counts: Counter[str] = Counter(r.status for r in result.results)
    out = []
    for r in result.results:
        error = None
        if r.status == "invalid":
            error = ErrorDetail(code="validation_error", message=r.message, fields=[
                FieldError(field=f.field, message=f.message) for f in r.fields])
        elif r.status == "skipped":
            error = ErrorDetail(code="skipped", message=r.message)
        out.append(RotaItemResult(index=r.index, kind=r.kind, ref=r.ref, status=r.status,
                                  error=error))
    response = RotaBatchResponse(
        mode=mode, stored=result.stored, items=out,
        counts=RotaBatchCounts(**{s: counts[s] for s in RotaBatchCounts.model_fields}))
    if result.stored:
        return json_response(response)
    response.error = ErrorDetail(
        code="validation_error", message=f"Nothing stored: {counts['invalid']} of "
        f"{len(out)} item(s) are invalid (see items[].error). Correct them and send the batch "
        "again, or send it with \"mode\": \"per_item\" to store the valid ones.")
    return json_response(response, 422)
