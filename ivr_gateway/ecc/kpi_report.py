"""The KPI report as files: CSV (visit lines, and figures by day, carer and client) and one
self-contained HTML page whose charts are inline SVG (no script, no CDN: it opens offline and
can be attached to an e-mail to the council).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ivr_gateway.ecc.kpi import MIX, GroupFigures, KpiReport, VisitKpi
from ivr_gateway.spreadsheet_csv import SpreadsheetWriter

COLOURS = {"on_time": "#2e7d32", "late": "#f9a825", "short_of_carer": "#ef6c00",
           "missed": "#c62828",
           "cancelled": "#9e9e9e", "pending": "#90caf9", "short": "#6a1b9a",
           "ivr": "#1565c0", "token": "#00838f", "sheet": "#558b2f", "office": "#795548",
           "unverified": "#d84315"}
OUTCOMES = ["on_time", "late", "short_of_carer", "missed", "cancelled", "pending"]


def _iso(at: datetime | None, report: KpiReport) -> str:
    if at is None:
        return ""
    # isoformat is C: about five times faster than strftime, for five times a line.
    return at.astimezone(ZoneInfo(report.timezone)).isoformat(" ", "minutes")[:16]


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


VISIT_COLUMNS = ["visit_ref", "day", "client_ref", "client", "carers", "carers_needed",
                 "carers_logged_in", "carers_missing", "planned_start", "planned_end",
                 "time_critical", "actual_start", "actual_end", "all_carers_from",
                 "minutes_from_planned", "duration_minutes", "commissioned_minutes", "outcome",
                 "kpi3_met", "missed_because", "short", "reason_code", "reason_due",
                 "reason_recorded", "reason_status", "office_status", "differs_from_office"]


def _carer_list(carers: Iterable[tuple[str, str]]) -> str:
    return "; ".join(f"{ref} {name}".strip() for ref, name in carers)


def _visit_row(v: VisitKpi, report: KpiReport) -> list[str]:
    return [v.ref, v.day.isoformat(), v.adult_ref, v.adult_name, _carer_list(v.carers),
            str(v.carers_needed), str(v.carers_logged_in), _carer_list(v.absent),
            _iso(v.planned_start, report), _iso(v.planned_end, report),
            "yes" if v.time_critical else "no", _iso(v.actual_start, report),
            _iso(v.actual_end, report), _iso(v.all_carers_from, report),
            "" if v.minutes_from_planned is None else str(v.minutes_from_planned),
            "" if v.duration_minutes is None else str(v.duration_minutes),
            str(v.commissioned_minutes), v.timeliness.value,
            "" if v.kpi3_met is None else ("yes" if v.kpi3_met else "no"), v.missed_because,
            "yes" if v.short else "no", v.reason_code or "", _iso(v.reason_due_at, report),
            _iso(v.reason_recorded_at, report), v.reason_status.value, v.office_status,
            # The outcome column is the council's KPI 3 verdict; where the office's status says
            # otherwise (a red client's earlier windows, a late log-in) both are given.
            "yes" if v.council_differs else "no"]


SUMMARY_COLUMNS = ["group", "name", "visits", "on_time", "late", "short_of_carer", "missed",
                   "cancelled",
                   "pending", "short", "kpi3_met", "kpi3_rate", "reasons_needed",
                   "reasons_within_48h", "reason_rate", *(f"verified_{m}" for m in MIX)]


def _groups(report: KpiReport) -> Iterable[tuple[str, str, GroupFigures]]:
    yield "total", f"{report.first_day} to {report.last_day}", report.total
    for day, figures in report.by_day.items():
        yield "day", day.isoformat(), figures
    for name, figures in report.by_carer.items():
        yield "carer", name, figures
    for name, figures in report.by_client.items():
        yield "client", name, figures


def _summary_row(group: str, name: str, f: GroupFigures) -> list[str]:
    return [group, name, *map(str, [f.visits, f.on_time, f.late, f.short_of_carer, f.missed,
                                    f.cancelled, f.pending, f.short, f.kpi3_met]),
            _pct(f.kpi3_rate), str(f.reasons_needed), str(f.reasons_on_time),
            _pct(f.reason_rate), *(str(f.verification[m]) for m in MIX)]


def visits_csv(report: KpiReport, rows: list[list[str]] | None = None) -> str:
    """One line per planned visit (`rows`: their cells, if already made)."""
    out = io.StringIO()
    writer = SpreadsheetWriter(out)
    writer.writerow(VISIT_COLUMNS)
    writer.writerows(rows or (_visit_row(v, report) for v in report.visits))
    return out.getvalue()


def summary_csv(report: KpiReport) -> str:
    """Figures for the whole range, each day, each carer and each client."""
    out = io.StringIO()
    writer = SpreadsheetWriter(out)
    writer.writerow(SUMMARY_COLUMNS)
    writer.writerows(_summary_row(*group) for group in _groups(report))
    return out.getvalue()


# ---------------------------------------------------------------- charts (inline SVG)

# Every HTML document people open is rendered by an autoescaped template (STYLE.md): a client's
# or a carer's name is text, whatever characters it holds.
TEMPLATES = Environment(loader=PackageLoader("ivr_gateway.ecc", "templates"), autoescape=True,
                        undefined=StrictUndefined, keep_trailing_newline=True)
BAR_H, GAP, LABEL_W = 18, 6, 190


def _words(key: str) -> str:
    return key.replace("_", " ")


def stacked_bars(title: str, rows: list[tuple[str, dict[str, int]]], keys: list[str],
                 width: int = 760) -> str:
    """A horizontal stacked bar per row (label, counts by key), with a legend."""
    height = 40 + len(rows) * (BAR_H + GAP) + 30
    peak = max([sum(counts.get(k, 0) for k in keys) for _l, counts in rows] + [1])
    scale = (width - LABEL_W - 60) / peak
    drawn = []
    y = 30
    for label, counts in rows:
        x = float(LABEL_W)
        bars = []
        for key in keys:
            n = counts.get(key, 0)
            if n:
                w = n * scale
                bars.append({"x": f"{x:.1f}", "width": f"{w:.1f}", "colour": COLOURS[key],
                             "count": n, "key": _words(key)})
                x += w
        drawn.append({"label": label, "short_label": label[:30], "y": y, "text_y": y + 13,
                      "bars": bars, "total": sum(counts.get(k, 0) for k in keys),
                      "total_x": f"{x + 4:.1f}"})
        y += BAR_H + GAP
    legend = []
    x = float(LABEL_W)
    for key in keys:
        legend.append({"x": x, "colour": COLOURS[key], "key": _words(key)})
        x += 24 + 7 * len(key)
    return TEMPLATES.get_template("ecc/stacked_bars.svg").render(
        title=title, width=width, height=height, rows=drawn, bar_h=BAR_H,
        label_x=LABEL_W - 6, legend=legend, legend_y=y).strip()


def rate_bars(title: str, rows: list[tuple[str, float | None]], width: int = 760) -> str:
    """A bar per row showing a percentage (0-100), with the value written."""
    height = 40 + len(rows) * (BAR_H + GAP)
    span = width - LABEL_W - 60
    drawn = []
    y = 30
    for label, rate in rows:
        drawn.append({"label": label, "short_label": label[:30], "y": y, "text_y": y + 13,
                      "width": None if rate is None else f"{span * rate:.1f}",
                      "value": _pct(rate) or "n/a"})
        y += BAR_H + GAP
    return TEMPLATES.get_template("ecc/rate_bars.svg").render(
        title=title, width=width, height=height, rows=drawn, bar_h=BAR_H, label_w=LABEL_W,
        label_x=LABEL_W - 6, span=span, value_x=LABEL_W + span + 4,
        colour=COLOURS["on_time"]).strip()


def _outcome_counts(f: GroupFigures) -> dict[str, int]:
    return {k: getattr(f, k) for k in OUTCOMES}


def _most_missed(groups: dict[str, GroupFigures], longest: int | None
                 ) -> tuple[list[tuple[str, dict[str, int]]], str]:
    """Each group's outcome counts (at most `longest` groups: those with most visits missed,
    short of a carer or late) and the chart's title note."""
    if longest is None or len(groups) <= longest:
        return [(name, _outcome_counts(f)) for name, f in groups.items()], ""
    worst = sorted(groups.items(), key=lambda item: (
        -item[1].missed, -item[1].short_of_carer, -item[1].late, item[0]))[:longest]
    return ([(name, _outcome_counts(f)) for name, f in sorted(worst)],
            f": the {longest} of {len(groups):,} with most missed or late visits")


def kpi_charts(report: KpiReport, longest: int | None = None) -> list[str]:
    """The report's charts as inline SVG (the HTML report and the office's KPI page show these).

    Each is rendered by an autoescaped template, so it is safe to mark as markup. `longest`
    caps the carers and clients charts (a county has thousands of each: the page shows those
    with most missed or late visits; the summary CSV and the HTML report have them all).
    """
    t = report.total
    by_day = [(d.strftime("%a %d %b"), _outcome_counts(f)) for d, f in report.by_day.items()]
    short_rows = [(d.strftime("%a %d %b"), {"short": f.short}) for d, f in report.by_day.items()]
    mix_rows = [("All", dict(t.verification))] + [
        (d.strftime("%a %d %b"), dict(f.verification)) for d, f in report.by_day.items()]
    carers, carers_note = _most_missed(report.by_carer, longest)
    clients, clients_note = _most_missed(report.by_client, longest)
    reason_rows = [("All", t.reason_rate)] + [
        (d.strftime("%a %d %b"), f.reason_rate) for d, f in report.by_day.items()]
    kpi_rows = [("All", t.kpi3_rate)] + [
        (d.strftime("%a %d %b"), f.kpi3_rate) for d, f in report.by_day.items()]
    return [stacked_bars("Visits by day", by_day, OUTCOMES),
            rate_bars("KPI 3 met", kpi_rows),
            stacked_bars("Short visits by day", short_rows, ["short"]),
            rate_bars(f"Reason codes completed within {report.reason_code_due_hours} hours",
                      reason_rows),
            stacked_bars("Verification mix (log events)", mix_rows, MIX),
            stacked_bars(f"Visits by carer{carers_note}", carers, OUTCOMES),
            stacked_bars(f"Visits by client{clients_note}", clients, OUTCOMES)]


def kpi_html(report: KpiReport, rows: list[list[str]] | None = None) -> str:
    """The self-contained HTML page (`rows`: the visit lines' cells, if already made)."""
    t = report.total
    tables = [{"title": title, "rows": [_summary_row(g, name, f)[1:]
                                        for g, name, f in _groups(report) if g == group]}
              for title, group in (("By day", "day"), ("By carer", "carer"),
                                   ("By client", "client"))]
    return TEMPLATES.get_template("ecc/kpi_report.html").render(
        title=f"Visit KPIs {report.first_day} to {report.last_day}", report=report, t=t,
        generated=_iso(report.generated_at, report), kpi3_rate=_pct(t.kpi3_rate) or "n/a",
        reason_rate=_pct(t.reason_rate) or "n/a", due_hours=report.reason_code_due_hours,
        # Our own SVG, itself rendered by an autoescaped template.
        charts=[Markup(chart) for chart in kpi_charts(report)],  # noqa: S704
        tables=tables, summary_columns=[_words(c) for c in SUMMARY_COLUMNS[1:]],
        visit_columns=[_words(c) for c in VISIT_COLUMNS],
        visits=[(v.timeliness.value, row) for v, row in zip(report.visits, rows or (
            _visit_row(v, report) for v in report.visits), strict=True)])


def write_kpi_files(report: KpiReport, directory: Path) -> list[Path]:
    """Write kpi-visits-*.csv, kpi-summary-*.csv and kpi-*.html; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{report.first_day}_{report.last_day}"
    rows = [_visit_row(v, report) for v in report.visits]  # the same cells in the CSV and HTML
    files = {directory / f"kpi-visits-{stem}.csv": visits_csv(report, rows),
             directory / f"kpi-summary-{stem}.csv": summary_csv(report),
             directory / f"kpi-{stem}.html": kpi_html(report, rows)}
    for path, text in files.items():
        path.write_text(text, encoding="utf-8", newline="")
    return list(files)
