"""CSV that is safe to open in a spreadsheet: every CSV the gateway writes goes through here.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula, so a client named ``=HYPERLINK("http://…","Joan")``
would become a live link (or worse) in the office's KPI download. OWASP's rule for CSV injection
(https://owasp.org/www-community/attacks/CSV_Injection): prefix such a cell with a single quote,
which the spreadsheet shows as text. A plain number (``-5``, ``-2.5``, ``-10%``) cannot be a
formula and is left as it is, so figures stay figures.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?%?")


def neutralise_cell(value: Any) -> str:
    """The cell as text, with a single quote before anything a spreadsheet would run."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_LEADS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class SpreadsheetWriter:
    """csv.writer's writerow/writerows, every cell neutralised first (CRLF line ends)."""

    def __init__(self, out: TextIO) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row: Iterable[Any]) -> None:
        """Write one row of cells."""
        self._writer.writerow([neutralise_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write many rows of cells."""
        for row in rows:
            self.writerow(row)
