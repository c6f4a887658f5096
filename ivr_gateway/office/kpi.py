"""KPI figures over a date range (on time, late, missed, short; how presence was proven) and
simple server-side SVG bar charts of them. No script, no chart library: the page prints and reads
the same everywhere, and every chart has its figures in a table beside it.

The figures come from the same outcomes as the board and the API (visits_for_day); the council
KPI report may later supply these instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape

from markupsafe import Markup
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.visits.queries import visits_for_day

MAX_DAYS = 62


@dataclass
class DayKpi:
    """One day's figures."""

    day: date
    on_time: int = 0
    late: int = 0
    missed: int = 0
    short: int = 0
    cancelled: int = 0
    pending: int = 0  # not started and not yet missed: no verdict yet
    verification: dict[str, int] = field(default_factory=dict)

    @property
    def delivered(self) -> int:
        """Visits started within the missed window."""
        return self.on_time + self.late


def kpis_for_range(session: Session, first: date, last: date, settings: Settings,
                   now: datetime) -> list[DayKpi]:
    """Figures for each local day from first to last inclusive (at most 62 days)."""
    if last < first:
        raise ValueError("The end date is before the start date.")
    if (last - first).days >= MAX_DAYS:
        raise ValueError(f"Choose at most {MAX_DAYS} days.")
    days = []
    day = first
    while day <= last:
        kpi = DayKpi(day)
        for visit in visits_for_day(session, day, settings, now):
            if visit.status == "unplanned":
                continue
            for actual in visit.actuals:
                if actual.in_verification:
                    kpi.verification[actual.in_verification] = \
                        kpi.verification.get(actual.in_verification, 0) + 1
            if visit.outcome == "cancelled":
                kpi.cancelled += 1
            elif visit.outcome == "missed":
                kpi.missed += 1
            elif visit.outcome in ("scheduled", "late_start"):
                kpi.pending += 1
            elif visit.minutes_late is not None:
                kpi.late += 1
            else:
                kpi.on_time += 1
            if visit.short:
                kpi.short += 1
        days.append(kpi)
        day += timedelta(days=1)
    return days


@dataclass(frozen=True)
class Series:
    """One coloured part of a bar."""

    name: str
    style: str  # CSS class: ontime | late | missed | short | ...
    values: list[int]


def bar_chart_svg(title: str, labels: list[str], series: list[Series], chart_id: str) -> Markup:
    """A stacked bar chart as inline SVG, with a <title> on every segment for its figure."""
    width, height, left, bottom, top = 640, 240, 36, 40, 16
    plot_w, plot_h = width - left - 8, height - bottom - top
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = max([*totals, 1])
    step = plot_w / max(len(labels), 1)
    bar_w = max(min(step * 0.7, 48), 2)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="{chart_id}-title" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{chart_id}-title">{escape(title)}</title>']
    for tick in sorted({0, peak // 2, peak}):
        y = top + plot_h - plot_h * tick / peak
        parts.append(f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="axis" x="{left - 4}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{tick}</text>')
    every = max(1, len(labels) // 10)
    for i, label in enumerate(labels):
        x = left + step * i + (step - bar_w) / 2
        y = top + plot_h
        for s in series:
            value = s.values[i]
            if value:
                h = plot_h * value / peak
                y -= h
                parts.append(f'<rect class="{s.style}" x="{x:.1f}" y="{y:.1f}" '
                             f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(label)}: '
                             f'{value} {escape(s.name)}</title></rect>')
        if i % every == 0:
            parts.append(f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}"'
                         f' text-anchor="middle">{escape(label)}</text>')
    legend_x = left
    for s in series:
        parts.append(f'<rect class="{s.style}" x="{legend_x}" y="{height - 14}" width="10" '
                     f'height="10"/><text class="legend" x="{legend_x + 14}" '
                     f'y="{height - 5}">{escape(s.name)}</text>')
        legend_x += 24 + 7 * len(s.name)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()
