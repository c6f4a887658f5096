"""/office/rota: upload a rota CSV (manager), confirm rows in the past, follow the import job.

The upload keeps the file under instance/ with a random token bound to the session; rows whose
planned start is more than the late window ago are shown first and nothing is written until the
manager confirms. The import itself runs as a background job (ivr_gateway/rota/imports.py).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from ivr_gateway import extensions
from ivr_gateway.office.auth import current_user, requires
from ivr_gateway.office.views import MANAGER, _now, _today, blueprint
from ivr_gateway.rota import imports
from ivr_gateway.rota.csv_import import COLUMNS, count_rows, rows_in_the_past, template_csv
from ivr_gateway.rota.models import RotaImport

_PENDING = "rota_upload"  # the session key of the upload waiting for confirmation


def _folder() -> Path:
    return Path(current_app.config["ROTA_UPLOAD_DIR"])


def _page(**context: Any) -> Any:
    with extensions.database().unit_of_work() as db:
        recent = imports.recent_imports(db)
    return render_template("office/rota.html", columns=COLUMNS, recent=recent,
                           late_after=extensions.settings().kpi.late_after, **context)


@blueprint.get("/rota")
@requires(MANAGER)
def rota_upload() -> Any:
    """The upload form, the columns explained, the template and the latest imports."""
    return _page()


@blueprint.post("/rota")
@requires(MANAGER)
def rota_upload_file() -> Any:
    """Keep the file; ask to confirm rows in the past, or start the import at once."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a CSV file to upload.", "error")
        return redirect(url_for("office.rota_upload"))
    raw = upload.read()
    settings = extensions.settings()
    _drop_pending()  # a new upload replaces one still waiting for its confirmation
    pending = {"token": imports.store_upload(_folder(), raw), "file_name": upload.filename,
               "skip_bad_rows": request.form.get("skip_bad_rows") == "yes",
               "dry_run": request.form.get("dry_run") == "yes"}
    past = rows_in_the_past(raw, settings, _now() - timedelta(minutes=settings.kpi.late_after))
    if past and not pending["dry_run"]:
        session[_PENDING] = pending
        return _page(pending=pending, past=past)
    return _start(pending, count_rows(raw))


@blueprint.post("/rota/confirm")
@requires(MANAGER)
def rota_confirm() -> Any:
    """Import the file kept for this session, rows in the past included."""
    pending = session.pop(_PENDING, None)
    path = imports.upload_path(_folder(), pending["token"]) if pending else None
    if path is not None and request.form.get("token") != pending["token"]:
        path.unlink(missing_ok=True)  # a stale or forged form: drop the upload, import nothing
        path = None
    if path is None:
        flash("That upload is no longer waiting; upload the file again.", "error")
        return redirect(url_for("office.rota_upload"))
    return _start(pending, count_rows(path.read_bytes()))


@blueprint.post("/rota/cancel")
@requires(MANAGER)
def rota_cancel() -> Any:
    """Drop the file kept for this session: nothing is imported."""
    _drop_pending()
    flash("Upload cancelled: nothing was imported.", "info")
    return redirect(url_for("office.rota_upload"))


def _drop_pending() -> None:
    pending = session.pop(_PENDING, None)
    path = imports.upload_path(_folder(), pending["token"]) if pending else None
    if path is not None:
        path.unlink(missing_ok=True)


def _start(pending: dict[str, Any], rows_total: int) -> Any:
    path = imports.upload_path(_folder(), pending["token"])
    if path is None:
        abort(404)
    with extensions.database().unit_of_work() as db:
        job = imports.queue_import(db, who=current_user().actor, file_name=pending["file_name"],
                                   rows_total=rows_total, skip_bad_rows=pending["skip_bad_rows"],
                                   dry_run=pending["dry_run"], now=_now())
        job_id = job.id
    imports.start_import(extensions.database(), extensions.settings(), extensions.clock(),
                         job_id, path)
    return redirect(url_for("office.rota_import", import_id=job_id))


def _job(import_id: int) -> tuple[RotaImport, dict[str, Any]]:
    with extensions.database().unit_of_work() as db:
        job = db.get(RotaImport, import_id)
        if job is None:
            abort(404)
        db.expunge(job)
    return job, imports.import_status(job, _now())


@blueprint.get("/rota/imports/<int:import_id>")
@requires(MANAGER)
def rota_import(import_id: int) -> Any:
    """One import: its progress while it runs (the page polls), its summary when done."""
    job, status = _job(import_id)
    return render_template("office/rota_import.html", job=job, status=status)


@blueprint.get("/rota/imports/<int:import_id>/status")
@requires(MANAGER)
def rota_import_status(import_id: int) -> Any:
    """The import's state and rows done of total, as JSON for the page's poll."""
    return jsonify(_job(import_id)[1])


@blueprint.get("/rota/template.csv")
@requires(MANAGER)
def rota_template() -> Any:
    """The template: the exact header the import reads and two example rows for tomorrow."""
    response = Response(template_csv(_today() + timedelta(days=1)), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="rota-template.csv"'
    return response
