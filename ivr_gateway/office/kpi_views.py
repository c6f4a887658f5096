"""/office/kpi: the council's KPI report on the dashboard, and its files."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from ivr_gateway import extensions
from ivr_gateway.ecc.kpi import MIX, KpiReport, build_kpi_report
from ivr_gateway.ecc.kpi_report import kpi_charts, kpi_html, summary_csv, visits_csv
from ivr_gateway.office.auth import requires
from ivr_gateway.office.reason_codes import ActionRefused
from ivr_gateway.office.views import (
    COORDINATOR,
    _now,
    _today,
    blueprint,
)
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


def _kpi_report(first: date, last: date) -> KpiReport:
    with extensions.database().unit_of_work() as db:
        return build_kpi_report(db, first, last, extensions.settings(), _now())


@blueprint.get("/kpi")
@requires(COORDINATOR)
def kpi() -> Any:
    """The council's KPI report for a range of days: the same figures and charts as the file."""
    try:
        first, last = _kpi_range()
        report: KpiReport | None = _kpi_report(first, last)
        error = None
    except ActionRefused as refused:
        first, last, report, error = _today() - timedelta(days=6), _today(), None, str(refused)
    charts = [Markup(svg) for svg in kpi_charts(report)] if report else []  # noqa: S704 - our SVG
    return render_template("office/kpi.html", report=report, charts=charts, first=first,
                           last=last, error=error, mix=MIX)


@blueprint.get("/kpi/<kind>.<ext>")
@requires(COORDINATOR)
def kpi_download(kind: str, ext: str) -> Any:
    """The KPI report as the self-contained HTML page, or its CSV files, to keep or send."""
    if (kind, ext) not in {("report", "html"), ("visits", "csv"), ("summary", "csv")}:
        abort(404)
    try:
        first, last = _kpi_range()
    except ActionRefused as refused:
        flash(str(refused), "error")
        return redirect(url_for("office.kpi"))
    report = _kpi_report(first, last)
    body = {"report": kpi_html, "visits": visits_csv, "summary": summary_csv}[kind](report)
    name = f"kpi-{kind}-{first}_{last}.{ext}"
    response = Response(body, mimetype="text/html" if ext == "html" else "text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
