"""/office/care-workers: the carers a page at a time (search by name, number or mobile), one
carer, unlock, PIN and details.

Views are thin: parse, call one function of office/directory.py or office/carers.py, render.
"""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request, url_for

from ivr_gateway import extensions
from ivr_gateway.office import carers
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.directory import (
    STANDINGS,
    care_workers_page,
    read_query,
    read_standing,
)
from ivr_gateway.office.views import COORDINATOR, MANAGER, _act, _now, blueprint


@blueprint.get("/care-workers")
@requires(COORDINATOR)
def care_workers() -> Any:
    """Carers, a page at a time: staff number, mobiles, language, lockouts; those still
    working unless asked for leavers or all."""
    q, page = read_query(request.args.get("q"), request.args.get("page"))
    standing = read_standing(request.args.get("standing"))
    with extensions.database().unit_of_work() as db:
        found = care_workers_page(db, q, page, standing)
    return render_template("office/care_workers.html", found=found, care_workers=found.rows,
                           now=_now(), standing=standing, standings=STANDINGS)


@blueprint.get("/care-workers/<ref>")
@requires(COORDINATOR)
def care_worker(ref: str) -> Any:
    """One carer: unlock, reset PIN, mobiles and language."""
    with extensions.database().unit_of_work() as db:
        try:
            row = carers.find_care_worker(db, ref)
        except LookupError:
            abort(404)
        left = carers.left_on(db, row, extensions.settings())
    return render_template("office/care_worker.html", carer=row, now=_now(), left_on=left)


@blueprint.post("/care-workers/<ref>/unlock")
@requires(COORDINATOR)
def unlock_care_worker(ref: str) -> Any:
    """Lift a carer's PIN lockout."""
    return _act(lambda db: carers.unlock_care_worker(db, ref, now=_now(),
                                                     actor=current_user().actor),
                "Carer unlocked: they can log in again now.",
                url_for("office.care_worker", ref=ref))


@blueprint.post("/care-workers/<ref>/pin")
@requires(MANAGER)
def reset_pin(ref: str) -> Any:
    """Set a new PIN for a carer (typed twice; never shown again)."""
    pin, again = request.form.get("pin", ""), request.form.get("pin_again", "")
    return _act(lambda db: carers.set_pin(db, ref, pin, again, settings=extensions.settings(),
                                          now=_now(), actor=current_user().actor),
                "New PIN set. Tell the carer in person or by phone, never by text.",
                url_for("office.care_worker", ref=ref))


@blueprint.post("/care-workers/<ref>/details")
@requires(MANAGER)
def update_care_worker(ref: str) -> Any:
    """Change a carer's mobiles and prompt language (through the rota service, audited)."""
    mobiles, language = request.form.get("mobiles", ""), request.form.get("language")
    return _act(lambda db: carers.update_details(db, ref, mobiles, language,
                                                 settings=extensions.settings(), now=_now(),
                                                 actor=current_user().actor),
                "Carer details saved.", url_for("office.care_worker", ref=ref))
