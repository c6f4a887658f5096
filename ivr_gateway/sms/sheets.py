"""A code sheet as a printable HTML page and as a PDF (reportlab: pure Python, no system fonts)."""

from __future__ import annotations

import io

from jinja2 import Environment, PackageLoader, StrictUndefined
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from ivr_gateway.config import Settings
from ivr_gateway.sms.codes import format_sheet_code
from ivr_gateway.sms.devices import PrintedSheet

# A printed page people open is rendered by an autoescaped template (STYLE.md), never f-strings.
TEMPLATES = Environment(loader=PackageLoader("ivr_gateway.sms", "templates"), autoescape=True,
                        undefined=StrictUndefined, keep_trailing_newline=True)
COLUMNS = 3
INSTRUCTIONS = [
    "Use the codes in order. Cross out each code once you have used it.",
    "Arriving: text IN and the code, e.g. IN 1234 5678. Leaving: text OUT and the next code.",
    "Keep this sheet in the care folder. It never leaves the home.",
]


def _title(sheet: PrintedSheet) -> str:
    return f"Visit codes for {sheet.adult_initials} - sheet {sheet.sheet_number}"


def _printed(sheet: PrintedSheet, settings: Settings) -> str:
    return sheet.created_at.astimezone(settings.tz).strftime("%d/%m/%Y")


def sheet_html(sheet: PrintedSheet, settings: Settings, gateway_number: str) -> str:
    """The sheet as one self-contained HTML page, laid out to print on A4."""
    return TEMPLATES.get_template("sms/code_sheet.html").render(
        title=_title(sheet), printed=_printed(sheet, settings), gateway_number=gateway_number,
        instructions=INSTRUCTIONS, columns=COLUMNS,
        codes=[format_sheet_code(code) for code in sheet.codes])


def sheet_pdf(sheet: PrintedSheet, settings: Settings, gateway_number: str) -> bytes:
    """The sheet as a one- or two-page A4 PDF."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle(_title(sheet))
    width, height = A4
    left, top = 18 * mm, height - 20 * mm

    def header() -> float:
        pdf.setFont("Helvetica-Bold", 18)
        pdf.drawString(left, top, _title(sheet))
        pdf.setFont("Helvetica", 10)
        y = top - 8 * mm
        pdf.drawString(left, y, f"Printed {_printed(sheet, settings)}. Text codes to "
                                f"{gateway_number}. {len(sheet.codes)} single-use codes.")
        for line in INSTRUCTIONS:
            y -= 5 * mm
            pdf.drawString(left, y, line)
        return y - 10 * mm

    y0 = header()
    column_width = (width - 2 * left) / COLUMNS
    line_height = 8 * mm
    per_column = max(1, int((y0 - 15 * mm) // line_height))
    for index, code in enumerate(sheet.codes):
        page_index = index % (per_column * COLUMNS)
        if index and page_index == 0:
            pdf.showPage()
            y0 = header()
        column, row = divmod(page_index, per_column)
        x, y = left + column * column_width, y0 - row * line_height
        pdf.setFont("Helvetica", 10)
        pdf.drawRightString(x + 9 * mm, y, f"{index + 1}.")
        pdf.setFont("Courier-Bold", 14)
        pdf.drawString(x + 12 * mm, y, format_sheet_code(code))
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
