"""The KPI report as files: CSV (visit lines, and figures by day, carer and client) and one
self-contained HTML page whose charts are inline SVG (no script, no CDN: it opens offline and
can be attached to an e-mail to the council).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from html import escape
from pathlib import Path

from ivr_gateway.ecc.kpi import MIX, GroupFigures, KpiReport, VisitKpi

COLOURS = {"on_time": "#2e7d32", "late": "#f9a825", "short_of_carer": "#ef6c00",
           "missed": "#c62828",
           "cancelled": "#9e9e9e", "pending": "#90caf9", "short": "#6a1b9a",
           "ivr": "#1565c0", "token": "#00838f", "sheet": "#558b2f", "office": "#795548",
           "unverified": "#d84315"}
OUTCOMES = ["on_time", "late", "short_of_carer", "missed", "cancelled", "pending"]


def _iso(at: datetime | None, report: KpiReport) -> str:
    if at is None:
        return ""
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(report.timezone)).strftime("%Y-%m-%d %H:%M")


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


VISIT_COLUMNS = ["visit_ref", "day", "client_ref", "client", "carers", "carers_needed",
                 "carers_logged_in", "carers_missing", "planned_start", "planned_end",
                 "time_critical", "actual_start", "actual_end", "all_carers_from",
                 "minutes_from_planned", "duration_minutes", "commissioned_minutes", "outcome",
                 "kpi3_met", "missed_because", "short", "reason_code", "reason_due",
                 "reason_recorded", "reason_status"]


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
            _iso(v.reason_recorded_at, report), v.reason_status.value]


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


def visits_csv(report: KpiReport) -> str:
    """One line per planned visit."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(VISIT_COLUMNS)
    writer.writerows(_visit_row(v, report) for v in report.visits)
    return out.getvalue()


def summary_csv(report: KpiReport) -> str:
    """Figures for the whole range, each day, each carer and each client."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SUMMARY_COLUMNS)
    writer.writerows(_summary_row(*group) for group in _groups(report))
    return out.getvalue()


# ---------------------------------------------------------------- charts (inline SVG)


def stacked_bars(title: str, rows: list[tuple[str, dict[str, int]]], keys: list[str],
                 width: int = 760) -> str:
    """A horizontal stacked bar per row (label, counts by key), with a legend."""
    bar_h, gap, label_w = 18, 6, 190
    height = 40 + len(rows) * (bar_h + gap) + 30
    peak = max([sum(counts.get(k, 0) for k in keys) for _l, counts in rows] + [1])
    scale = (width - label_w - 60) / peak
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
             f'font-size="12"><title>{escape(title)}</title>',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    y = 30
    for label, counts in rows:
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">'
                     f'{escape(label[:30])}</text>')
        x = float(label_w)
        for key in keys:
            n = counts.get(key, 0)
            if n:
                w = n * scale
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                             f'fill="{COLOURS[key]}"><title>{escape(label)}: {n} '
                             f'{key.replace("_", " ")}</title></rect>')
                x += w
        total = sum(counts.get(k, 0) for k in keys)
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 13}">{total}</text>')
        y += bar_h + gap
    x = float(label_w)
    for key in keys:
        parts.append(f'<rect x="{x}" y="{y + 6}" width="10" height="10" fill="{COLOURS[key]}"/>'
                     f'<text x="{x + 14}" y="{y + 15}">{key.replace("_", " ")}</text>')
        x += 24 + 7 * len(key)
    parts.append("</svg>")
    return "".join(parts)


def rate_bars(title: str, rows: list[tuple[str, float | None]], width: int = 760) -> str:
    """A bar per row showing a percentage (0-100), with the value written."""
    bar_h, gap, label_w = 18, 6, 190
    height = 40 + len(rows) * (bar_h + gap)
    span = width - label_w - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
             f'font-size="12"><title>{escape(title)}</title>',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    y = 30
    for label, rate in rows:
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">'
                     f'{escape(label[:30])}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{span}" height="{bar_h}" '
                     f'fill="#eeeeee"/>')
        if rate is not None:
            parts.append(f'<rect x="{label_w}" y="{y}" width="{span * rate:.1f}" '
                         f'height="{bar_h}" fill="{COLOURS["on_time"]}"/>')
        parts.append(f'<text x="{label_w + span + 4}" y="{y + 13}">'
                     f'{_pct(rate) or "n/a"}</text>')
        y += bar_h + gap
    parts.append("</svg>")
    return "".join(parts)


def _outcome_counts(f: GroupFigures) -> dict[str, int]:
    return {k: getattr(f, k) for k in OUTCOMES}


def _table(report: KpiReport, title: str, group: str) -> str:
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in SUMMARY_COLUMNS[1:])
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in
                                    _summary_row(g, name, f)[1:]) + "</tr>"
                   for g, name, f in _groups(report) if g == group)
    return f"<h2>{escape(title)}</h2><table><thead><tr>{head}</tr></thead>" \
           f"<tbody>{body}</tbody></table>"


def kpi_charts(report: KpiReport) -> list[str]:
    """The report's charts as inline SVG (the HTML report and the office's KPI page show these)."""
    t = report.total
    by_day = [(d.strftime("%a %d %b"), _outcome_counts(f)) for d, f in report.by_day.items()]
    short_rows = [(d.strftime("%a %d %b"), {"short": f.short}) for d, f in report.by_day.items()]
    mix_rows = [("All", dict(t.verification))] + [
        (d.strftime("%a %d %b"), dict(f.verification)) for d, f in report.by_day.items()]
    carers = [(name, _outcome_counts(f)) for name, f in report.by_carer.items()]
    clients = [(name, _outcome_counts(f)) for name, f in report.by_client.items()]
    reason_rows = [("All", t.reason_rate)] + [
        (d.strftime("%a %d %b"), f.reason_rate) for d, f in report.by_day.items()]
    kpi_rows = [("All", t.kpi3_rate)] + [
        (d.strftime("%a %d %b"), f.kpi3_rate) for d, f in report.by_day.items()]
    return [stacked_bars("Visits by day", by_day, OUTCOMES),
            rate_bars("KPI 3 met", kpi_rows),
            stacked_bars("Short visits by day", short_rows, ["short"]),
            rate_bars("Reason codes completed within 48 hours", reason_rows),
            stacked_bars("Verification mix (log events)", mix_rows, MIX),
            stacked_bars("Visits by carer", carers, OUTCOMES),
            stacked_bars("Visits by client", clients, OUTCOMES)]


def kpi_html(report: KpiReport) -> str:
    """The self-contained HTML page."""
    t = report.total
    definitions = "".join(f"<dt>{escape(term)}</dt><dd>{escape(text)}</dd>"
                          for term, text in report.definitions)
    lines_head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in VISIT_COLUMNS)
    lines = "".join(f'<tr class="{v.timeliness.value}">' + "".join(
        f"<td>{escape(cell)}</td>" for cell in _visit_row(v, report)) + "</tr>"
        for v in report.visits)
    title = f"Visit KPIs {report.first_day} to {report.last_day}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 2em; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: left; }}
th {{ background: #f3f3f3; }}
tr.missed td {{ background: #fdecea; }} tr.late td {{ background: #fff8e1; }}
tr.short_of_carer td {{ background: #fff3e0; }}
.figures span {{ display: inline-block; margin-right: 2em; font-size: 18px; }}
dt {{ font-weight: bold; margin-top: .6em; }}
svg {{ display: block; margin: 1em 0 2em; }}
</style></head><body>
<h1>{escape(title)}</h1>
<p>Local days in {escape(report.timezone)}; generated {escape(_iso(report.generated_at, report))}.
Definitions are at the end of the page.</p>
<p class="figures"><span>Visits: {t.visits}</span><span>KPI 3 met: {_pct(t.kpi3_rate) or "n/a"}
</span><span>On time {t.on_time} / late {t.late} / double-up short of a carer
{t.short_of_carer} / missed {t.missed}</span>
<span>Short: {t.short}</span><span>Cancelled: {t.cancelled}</span>
<span>Reason codes within 48 h: {_pct(t.reason_rate) or "n/a"}</span></p>
{"".join(kpi_charts(report))}
{_table(report, "By day", "day")}
{_table(report, "By carer", "carer")}
{_table(report, "By client", "client")}
<h2>Visits</h2>
<table><thead><tr>{lines_head}</tr></thead><tbody>{lines}</tbody></table>
<h2>Definitions</h2><dl>{definitions}</dl>
</body></html>
"""


def write_kpi_files(report: KpiReport, directory: Path) -> list[Path]:
    """Write kpi-visits-*.csv, kpi-summary-*.csv and kpi-*.html; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{report.first_day}_{report.last_day}"
    files = {directory / f"kpi-visits-{stem}.csv": visits_csv(report),
             directory / f"kpi-summary-{stem}.csv": summary_csv(report),
             directory / f"kpi-{stem}.html": kpi_html(report)}
    for path, text in files.items():
        path.write_text(text, encoding="utf-8", newline="")
    return list(files)
