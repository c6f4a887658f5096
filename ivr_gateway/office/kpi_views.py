"""/office/kpi: the council's KPI report on the dashboard, and its files."""

from __future__ import annotations

from datetime import date, timedelta
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
    url_for,
)
from markupsafe import Markup

from ivr_gateway import extensions
from ivr_gateway.ecc.kept_reports import KeptState, report_for_download, report_for_page
from ivr_gateway.ecc.kpi import MIX
from ivr_gateway.ecc.kpi_report import kpi_charts, kpi_html, summary_csv, visits_csv
from ivr_gateway.office.auth import requires
from ivr_gateway.office.reason_codes import ActionRefused
from ivr_gateway.office.views import COORDINATOR, _now, _today, blueprint
from ivr_gateway.request_guards import DAY_RANGE, day_in_range

KPI_MAX_DAYS = 62


def _kpi_range() -> tuple[date, date]:
    today = _today()
    try:
        last = date.fromisoformat(request.args["to"]) if request.args.get("to") else today
        first = (date.fromisoformat(request.args["from"]) if request.args.get("from")
                 else last - timedelta(days=6))
    except ValueError:
        raise ActionRefused("Dates are YYYY-MM-DD.") from None
    if not (day_in_range(first) and day_in_range(last)):
        raise ActionRefused(f"Choose days {DAY_RANGE}.")
    if last < first:
        raise ActionRefused("The 'to' date is before the 'from' date.")
    if (last - first).days >= KPI_MAX_DAYS:
        raise ActionRefused(f"Choose at most {KPI_MAX_DAYS} days; for longer, run "
                            "`ivr-gateway report kpi`.")
    return first, last


KPI_PAGE_GROUPS = 30  # carers and clients charted on the page (all of them in the files)


def _kept(first: date, last: date, retry_failed: bool) -> KeptState:
    return report_for_page(extensions.database(), extensions.settings(), extensions.clock(),
                           first, last, retry_failed=retry_failed,
                           inline_below=current_app.config["KPI_INLINE_VISITS"])


@blueprint.get("/kpi")
@requires(COORDINATOR)
def kpi() -> Any:
    """The council's KPI report for a range of days: the same figures and charts as the file.

    A big range's report is worked out in the background and kept (ecc/kept_reports.py): the
    page shows the kept one at once ("as of"), or says it is being worked out and reloads
    itself when it is ready.
    """
    try:
        first, last = _kpi_range()
        state: KeptState | None = _kept(first, last, retry_failed=True)
        error = None
    except ActionRefused as refused:
        first, last, state, error = _today() - timedelta(days=6), _today(), None, str(refused)
    report = state.report if state is not None else None
    charts = ([Markup(svg) for svg in kpi_charts(report, KPI_PAGE_GROUPS)]  # noqa: S704 - ours
              if report else [])
    return render_template("office/kpi.html", report=report, state=state, charts=charts,
                           first=first, last=last, error=error, mix=MIX, now=_now(),
                           range_words=_range_words(first, last))


@blueprint.get("/kpi/status")
@requires(COORDINATOR)
def kpi_status() -> Any:
    """Where the range's report stands, as JSON for the page's poll (it starts no new attempt
    after a failure)."""
    try:
        state = _kept(*_kpi_range(), retry_failed=False)
    except ActionRefused as refused:
        return jsonify({"error": str(refused)}), 400
    started = state.started_at
    return jsonify({"ready": state.ready, "working": state.working, "stale": state.stale,
                    "shown": state.report is not None, "estimate_seconds": state.estimate_seconds,
                    "elapsed_seconds": (int((_now() - started).total_seconds())
                                        if started is not None and state.working else None),
                    "error": None if state.working else state.error})


def _range_words(first: date, last: date) -> str:
    if first == last:
        return first.strftime("%a %-d %b %Y")
    return f"{first.strftime('%a %-d %b')} to {last.strftime('%a %-d %b %Y')}"


@blueprint.get("/kpi/<kind>.<ext>")
@requires(COORDINATOR)
def kpi_download(kind: str, ext: str) -> Any:
    """The KPI report as the self-contained HTML page, or its CSV files, to keep or send.

    The kept report when it is current, else worked out in this request (ecc/kept_reports.py).
    """
    if (kind, ext) not in {("report", "html"), ("visits", "csv"), ("summary", "csv")}:
        abort(404)
    try:
        first, last = _kpi_range()
    except ActionRefused as refused:
        flash(str(refused), "error")
        return redirect(url_for("office.kpi"))
    report = report_for_download(extensions.database(), extensions.settings(),
                                 extensions.clock(), first, last)
    body = {"report": kpi_html, "visits": visits_csv, "summary": summary_csv}[kind](report)
    name = f"kpi-{kind}-{first}_{last}.{ext}"
    response = Response(body, mimetype="text/html" if ext == "html" else "text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
