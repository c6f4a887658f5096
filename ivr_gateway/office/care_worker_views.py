"""/office/care-workers: the carers, one carer, unlock, PIN and details."""

from __future__ import annotations

from typing import Any

from flask import (
    abort,
    render_template,
    request,
    url_for,
)
from pydantic import ValidationError
from sqlalchemy import select

from ivr_gateway import extensions
from ivr_gateway.models import CareWorker
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.reason_codes import ActionRefused
from ivr_gateway.office.views import (
    COORDINATOR,
    MANAGER,
    _act,
    _now,
    blueprint,
)
from ivr_gateway.rota import service as rota
from ivr_gateway.rota.schemas import CareWorkerIn, validation_context


@blueprint.get("/care-workers")
@requires(COORDINATOR)
def care_workers() -> Any:
    """Carers: staff number, mobiles, language, lockouts."""
    with extensions.database().unit_of_work() as db:
        rows = list(db.scalars(select(CareWorker).order_by(CareWorker.family_name,
                                                           CareWorker.given_name)))
        for c in rows:
            _ = c.mobiles
    return render_template("office/care_workers.html", care_workers=rows, now=_now())


@blueprint.get("/care-workers/<ref>")
@requires(COORDINATOR)
def care_worker(ref: str) -> Any:
    """One carer: unlock, reset PIN, mobiles and language."""
    with extensions.database().unit_of_work() as db:
        row = db.scalar(select(CareWorker).where(CareWorker.ref == ref))
        if row is None:
            abort(404)
        _ = row.mobiles
    return render_template("office/care_worker.html", carer=row, now=_now())


@blueprint.post("/care-workers/<ref>/unlock")
@requires(COORDINATOR)
def unlock_care_worker(ref: str) -> Any:
    """Lift a carer's PIN lockout."""
    def action(db: Any) -> None:
        try:
            rota.unlock_care_worker(db, ref, now=_now(), actor=current_user().actor)
        except rota.RotaError as error:
            raise ActionRefused(error.message) from None
    return _act(action, "Carer unlocked: they can log in again now.",
                url_for("office.care_worker", ref=ref))


@blueprint.post("/care-workers/<ref>/pin")
@requires(MANAGER)
def reset_pin(ref: str) -> Any:
    """Set a new PIN for a carer (typed twice; never shown again)."""
    pin, again = request.form.get("pin", ""), request.form.get("pin_again", "")

    def action(db: Any) -> None:
        if pin != again:
            raise ActionRefused("The two PINs differ; type the same PIN twice.")
        carer = db.scalar(select(CareWorker).where(CareWorker.ref == ref))
        if carer is None:
            raise ActionRefused("There is no such carer.")
        try:
            rota.set_care_worker_pin(db, carer.staff_number, pin,
                                     settings=extensions.settings(), now=_now(),
                                     actor=current_user().actor)
        except rota.RotaError as error:
            raise ActionRefused(error.message) from None
    return _act(action, "New PIN set. Tell the carer in person or by phone, never by text.",
                url_for("office.care_worker", ref=ref))


@blueprint.post("/care-workers/<ref>/details")
@requires(MANAGER)
def update_care_worker(ref: str) -> Any:
    """Change a carer's mobiles and prompt language (through the rota service, audited)."""
    def action(db: Any) -> None:
        carer = db.scalar(select(CareWorker).where(CareWorker.ref == ref))
        if carer is None:
            raise ActionRefused("There is no such carer.")
        mobiles = [m.strip() for m in request.form.get("mobiles", "").replace(",", "\n")
                   .splitlines() if m.strip()]
        try:
            data = CareWorkerIn.model_validate({
                "staff_number": carer.staff_number, "given_name": carer.given_name,
                "family_name": carer.family_name, "mobiles": mobiles,
                "language": request.form.get("language", carer.language),
                "branch": carer.branch, "active": carer.active,
            }, context=validation_context(extensions.settings()))
            rota.upsert_care_worker(db, ref, data, settings=extensions.settings(), now=_now(),
                                    actor=current_user().actor)
        except ValidationError as error:
            raise ActionRefused("; ".join(f"{p.field}: {p.message}"
                                          for p in rota.problems_from(error))) from None
        except rota.RotaError as error:
            raise ActionRefused(error.message) from None
    return _act(action, "Carer details saved.", url_for("office.care_worker", ref=ref))
