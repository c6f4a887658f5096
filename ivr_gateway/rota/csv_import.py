"""Rota import from a CSV file: one row per planned visit, validated by the same models as the API.

COLUMNS below is the one list of the columns (docs/rota-csv.md, the office page's help and its
template CSV are read from it). The import is all-or-nothing unless bad rows are to be
skipped; every problem is reported with the row number a spreadsheet shows (the header is row 1).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.rota.loading import LoadResult, RotaItem, load_rota
from ivr_gateway.rota.problems import FieldProblem, InvalidRota, check_ref, problems_from
from ivr_gateway.rota.schemas import (
    AdultIn,
    CareWorkerIn,
    PlannedVisitIn,
    validation_context,
)
from ivr_gateway.spreadsheet_csv import SpreadsheetWriter

REQUIRED_COLUMNS = ("visit_ref", "adult_ref", "date", "start", "end", "care_worker_refs")
ADULT_COLUMNS = ("adult_given_name", "adult_family_name", "adult_address", "adult_postcode",
                 "adult_landlines", "adult_rag", "adult_client_number")
CARER_COLUMNS = ("care_worker_staff_numbers", "care_worker_given_names",
                 "care_worker_family_names")
VISIT_COLUMNS = ("status", "cancel_reason", "cancel_note", "time_critical")
KNOWN_COLUMNS = REQUIRED_COLUMNS + ADULT_COLUMNS + CARER_COLUMNS + VISIT_COLUMNS


@dataclass(frozen=True)
class Column:
    """One column of the rota file: when it is needed, what it means, two example values."""

    name: str
    needed: str
    meaning: str
    examples: tuple[str, str]


# The file's columns in the template's order, with the help the office page shows. The examples
# make two rows that import cleanly on their own ({day} is filled with a day to come).
COLUMNS: tuple[Column, ...] = (
    Column("visit_ref", "always", "Your reference for the visit (1-64 letters, digits, . _ : -). "
           "Importing the same reference again updates that visit.", ("V1001", "V1002")),
    Column("adult_ref", "always", "Your reference for the client.", ("A001", "A001")),
    Column("adult_given_name", "with client details", "The client's given name.",
           ("Joan", "")),
    Column("adult_family_name", "with client details", "The client's family name.",
           ("Smith", "")),
    Column("adult_address", "no", "The client's address; left blank, the stored one is kept.",
           ("1 High Street, Chelmsford", "")),
    Column("adult_postcode", "no", "The client's postcode; left blank, the stored one is kept.",
           ("CM1 1AA", "")),
    Column("adult_landlines", "with client details", "Landlines at the client's home, any UK "
           "form, separated by ';'. Mobiles are refused: they prove nothing about where the "
           "carer is.", ("020 7946 0001", "")),
    Column("adult_rag", "with client details", "Risk rating: red, amber or green.",
           ("red", "")),
    Column("adult_client_number", "no", "The number the client's code sheet carries (digits); "
           "blank: kept, or made up for a new client.", ("", "")),
    Column("date", "always", "The day the visit starts: YYYY-MM-DD or DD/MM/YYYY.",
           ("{day}", "{day}")),
    Column("start", "always", "Planned start, local time (HH:MM, 24-hour clock).",
           ("08:00", "12:30")),
    Column("end", "always", "Planned end, HH:MM. An end earlier than the start is the next "
           "day (22:30 to 00:15). At most 12 hours after the start.", ("08:30", "13:00")),
    Column("care_worker_refs", "always", "Your references for the carers, separated by ';' "
           "(two for a double-up).", ("C01", "C01;C02")),
    Column("care_worker_staff_numbers", "with carer details", "Each carer's staff number (what "
           "they key in), one per care_worker_refs entry, in the same order, ';'-separated.",
           ("4821", "4821;5902")),
    Column("care_worker_given_names", "with carer details", "The carers' given names, in the "
           "same order, ';'-separated.", ("Amy", "Amy;Piotr")),
    Column("care_worker_family_names", "with carer details", "The carers' family names, in the "
           "same order, ';'-separated.", ("Jones", "Jones;Nowak")),
    Column("status", "no", "planned (the default) or cancelled.", ("planned", "planned")),
    Column("cancel_reason", "when cancelled", "A short reason code (letters, digits, _ -), "
           "e.g. HOSPITAL; refused on a planned visit.", ("", "")),
    Column("cancel_note", "no", "Free text about the cancellation.", ("", "")),
    Column("time_critical", "no", "yes or no (the default): must start within 30 minutes "
           "either side of the planned time.", ("yes", "no")),
)
assert {c.name for c in COLUMNS} == set(KNOWN_COLUMNS), "COLUMNS must describe every column"

_ADULT_FIELD_COLUMN = {
    "given_name": "adult_given_name", "family_name": "adult_family_name",
    "address": "adult_address", "postcode": "adult_postcode", "landlines": "adult_landlines",
    "rag": "adult_rag", "client_number": "adult_client_number", "ref": "adult_ref",
}
_CARER_FIELD_COLUMN = {
    "staff_number": "care_worker_staff_numbers", "given_name": "care_worker_given_names",
    "family_name": "care_worker_family_names", "ref": "care_worker_refs",
}
_VISIT_FIELD_COLUMN = {
    "adult_ref": "adult_ref", "care_worker_refs": "care_worker_refs", "planned_start": "start",
    "planned_end": "end", "status": "status", "cancel_reason": "cancel_reason",
    "cancel_note": "cancel_note", "time_critical": "time_critical", "ref": "visit_ref",
}

KINDS = ("adult", "care_worker", "planned_visit")


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong in the file: the spreadsheet row (None: the whole file), column, message."""

    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = "file" if self.row is None else f"row {self.row}"
        column = f", column {self.column}" if self.column else ""
        return f"{where}{column}: {self.message}"


@dataclass
class ImportReport:
    """What an import did (or, on a dry run or a refusal, would have done)."""

    encoding: str = ""
    rows: int = 0
    imported_rows: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(
        default_factory=lambda: {kind: Counter() for kind in KINDS})
    dry_run: bool = False
    stored: bool = False

    @property
    def bad_rows(self) -> list[int]:
        """The spreadsheet rows that had problems."""
        return sorted({p.row for p in self.problems if p.row is not None})

    def summary(self) -> list[str]:
        """Lines for a person: what was created, updated and left unchanged, per kind."""
        labels = {"adult": "adults", "care_worker": "care workers",
                  "planned_visit": "planned visits"}
        lines = []
        for kind in KINDS:
            c = self.counts[kind]
            lines.append(f"{labels[kind]}: {c['created']} created, {c['updated']} updated, "
                         f"{c['unchanged']} unchanged")
        return lines

    def outcome(self) -> str:
        """One sentence: what happened to the file, true to whether anything was stored.

        A refused file is rolled back whole, so its good rows were checked, not imported.
        """
        refused = len(self.bad_rows)
        if any(p.row is None for p in self.problems) and not self.rows:
            return "Nothing imported: the file cannot be read (see the problem below)."
        if self.dry_run:
            return (f"Checked only, nothing stored: {self.imported_rows} of {self.rows} row(s) "
                    f"would be imported, {refused} refused.")
        if self.stored and refused:
            return (f"Imported {self.imported_rows} of {self.rows} row(s); {refused} refused "
                    "and skipped (below).")
        if self.stored:
            return f"Imported all {self.rows} row(s)."
        return (f"Nothing imported: {refused} of {self.rows} row(s) refused (below), so the "
                "whole file was left out. Correct them and upload again, or tick 'Import the "
                "good rows and skip bad ones'.")


def template_csv(day: date) -> str:
    """The template file: the header and two example rows on the given day, from COLUMNS."""
    out = io.StringIO()
    writer = SpreadsheetWriter(out)
    writer.writerow([c.name for c in COLUMNS])
    for index in (0, 1):
        writer.writerow([c.examples[index].replace("{day}", day.isoformat()) for c in COLUMNS])
    return out.getvalue()


def count_rows(raw: str | bytes) -> int:
    """How many rows (not blank, header aside) a file has; 0 if it cannot be read."""
    try:
        return len(_records(decode_rota(raw)[0] if isinstance(raw, bytes) else raw)[1])
    except RotaFileError:
        return 0


@dataclass(frozen=True)
class PastRow:
    """A row whose planned start has already gone by."""

    row: int
    visit_ref: str
    planned_start: datetime


def rows_in_the_past(raw: str | bytes, settings: Settings, before: datetime) -> list[PastRow]:
    """The rows whose planned start is earlier than `before` (rows with unreadable times are
    left to the import to report). A cheap pass over the dates and times only."""
    try:
        text = decode_rota(raw)[0] if isinstance(raw, bytes) else raw
        header, records = _records(text)
    except RotaFileError:
        return []
    if not {"visit_ref", "date", "start"} <= set(header):
        return []
    index = {column: i for i, column in enumerate(header)}
    found = []
    for number, record in records:
        cell = {c: (record[i].strip() if i < len(record) else "") for c, i in index.items()}
        try:
            start = local_to_utc(parse_day(cell["date"]), parse_clock(cell["start"]),
                                 settings.tz)
        except ValueError:
            continue
        if start < before:
            found.append(PastRow(number, cell["visit_ref"], start))
    return found


class RotaFileError(Exception):
    """The file as a whole cannot be read (encoding, header); the message says what to do."""


def decode_rota(raw: bytes) -> tuple[str, str]:
    """Bytes to text: UTF-8 (BOM or not), else Windows-1252 (Excel's plain 'CSV' on Windows)."""
    if raw.startswith(b"PK\x03\x04"):
        raise RotaFileError("This is an Excel workbook, not a CSV file; in Excel use File > "
                            "Save As > 'CSV UTF-8 (Comma delimited)' and import that.")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RotaFileError("The file is saved as UTF-16 ('Unicode Text'); save it as "
                            "'CSV UTF-8 (Comma delimited)' and import again.")
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            return raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as error:
            raise RotaFileError(f"The file says it is UTF-8 but byte {error.start + 3} is not; "
                                "save it again as 'CSV UTF-8'.") from None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError as error:
        raise RotaFileError(f"The file is neither UTF-8 nor Windows-1252 (byte {error.start} "
                            "cannot be read); save it as 'CSV UTF-8 (Comma delimited)'.") from None


def parse_day(raw: str) -> date:
    """'2026-03-29' or '29/03/2026' to a date; ValueError with a person's message otherwise."""
    text = raw.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
        if match:
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day)
    except ValueError:
        raise ValueError(f"{text!r} is not a real date") from None
    raise ValueError(f"{text!r} is not a date; use YYYY-MM-DD or DD/MM/YYYY")


def parse_clock(raw: str) -> time:
    """'08:30' (or '8:30', '08:30:00') to a time; ValueError otherwise."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", raw.strip())
    if match:
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        if hour < 24 and minute < 60 and second < 60:
            return time(hour, minute, second)
    raise ValueError(f"{raw.strip()!r} is not a time; use HH:MM on the 24-hour clock")


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A local wall-clock time to UTC.

    A time the clocks skip (01:30 on the last Sunday of March in London) is refused. A time that
    happens twice (01:30 on the last Sunday of October) is taken at its first occurrence, still
    on summer time (fold=0), as a rota written the day before means.
    """
    local = datetime.combine(day, at, tzinfo=tz)
    utc = local.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise ValueError(f"{at:%H:%M} does not exist on {day:%d/%m/%Y}: the clocks go forward "
                         "then; use a time after the change")
    return utc


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(";") if part.strip()]


def _column_problems(problems: Iterable[FieldProblem], columns: dict[str, str], row: int,
                     label: str = "") -> list[RowProblem]:
    found = []
    for problem in problems:
        base = re.split(r"[\[.]", problem.field, maxsplit=1)[0]
        item = re.match(r"^[^\[]*\[(\d+)\]", problem.field)
        prefix = f"item {int(item[1]) + 1}: " if item else ""
        found.append(RowProblem(row, columns.get(base, problem.field),
                                f"{label}{prefix}{problem.message}"))
    return found


def _validate(model: type[BaseModel], data: dict[str, Any], settings: Settings,
              columns: dict[str, str], row: int, label: str = ""
              ) -> tuple[Any, list[RowProblem]]:
    try:
        return model.model_validate(data, context=validation_context(settings)), []
    except ValidationError as error:
        return None, _column_problems(problems_from(error), columns, row, label)


@dataclass
class _Row:
    number: int
    visit_ref: str
    adult_ref: str
    adult: AdultIn | None
    carers: list[tuple[str, CareWorkerIn]]
    visit: PlannedVisitIn


class _RotaReader:
    """Turns one CSV row into validated inputs, or the row's problems."""

    def __init__(self, columns: list[str], settings: Settings) -> None:
        self.order = {column: index for index, column in enumerate(columns)}
        self.settings = settings
        self.visit_rows: dict[str, int] = {}
        self.adults: dict[str, tuple[int, AdultIn]] = {}
        self.carers: dict[str, tuple[int, CareWorkerIn]] = {}
        self.failed: dict[str, int] = {}  # ref of an adult or carer -> its row that failed

    def read(self, number: int, values: dict[str, str]) -> tuple[_Row | None, list[RowProblem]]:
        problems: list[RowProblem] = []
        visit_ref = values["visit_ref"]
        try:
            visit_ref = check_ref(visit_ref)
        except InvalidRota as error:
            problems.append(RowProblem(number, "visit_ref", error.fields[0].message))
        if visit_ref in self.visit_rows:
            problems.append(RowProblem(number, "visit_ref", f"visit {visit_ref} is already on "
                                       f"row {self.visit_rows[visit_ref]}; one row per visit"))
        start, end = self._times(number, values, problems)
        adult, adult_problems = self._adult(number, values)
        problems += adult_problems
        carers, carer_problems = self._carers(number, values)
        problems += carer_problems
        status = values.get("status", "").lower() or "planned"
        visit_data: dict[str, Any] = {
            "adult_ref": values["adult_ref"],
            "care_worker_refs": _split(values["care_worker_refs"]),
            "planned_start": start or datetime(2000, 1, 1, tzinfo=UTC),
            "planned_end": end or datetime(2000, 1, 1, 1, tzinfo=UTC),
            "status": status,
            "cancel_reason": values.get("cancel_reason") or None,
            "cancel_note": values.get("cancel_note") or None,
            "time_critical": self._yes_no(number, values.get("time_critical", ""), problems),
        }
        visit, visit_problems = _validate(PlannedVisitIn, visit_data, self.settings,
                                          _VISIT_FIELD_COLUMN, number)
        if start is not None and end is not None:
            problems += visit_problems
        else:  # times already reported; don't report them again through placeholders
            problems += [p for p in visit_problems if p.column not in ("start", "end")]
        if problems or visit is None:
            # In the order of the columns, as the person reads the row.
            return None, sorted(problems, key=lambda p: self.order.get(p.column, len(self.order)))
        self.visit_rows[visit_ref] = number
        return _Row(number, visit_ref, values["adult_ref"], adult, carers, visit), []

    @staticmethod
    def _yes_no(number: int, raw: str, problems: list[RowProblem]) -> bool:
        answer = raw.strip().lower()
        if answer in ("", "no", "n", "false", "0"):
            return False
        if answer in ("yes", "y", "true", "1"):
            return True
        problems.append(RowProblem(number, "time_critical", f"{raw!r} is not yes or no"))
        return False

    def remember(self, row: _Row) -> None:
        """Note a row's adult and carers as stored, so later rows with the same data skip them."""
        if row.adult is not None:
            self.adults.setdefault(row.adult_ref, (row.number, row.adult))
        for ref, carer in row.carers:
            self.carers.setdefault(ref, (row.number, carer))

    def forget(self, row: _Row) -> None:
        """A row that was rolled back no longer claims its visit ref."""
        self.visit_rows.pop(row.visit_ref, None)

    def note_failure(self, number: int, values: dict[str, str]) -> None:
        """Remember the adult and carers whose details were on a failed row, for later hints."""
        if any(values.get(column) for column in ADULT_COLUMNS):
            self.failed.setdefault(values.get("adult_ref", ""), number)
        if any(values.get(column) for column in CARER_COLUMNS):
            for ref in _split(values.get("care_worker_refs", "")):
                self.failed.setdefault(ref, number)

    def hint(self, message: str) -> str:
        """Point a 'no such ref' message at the earlier failed row that would have created it."""
        match = re.search(r"with ref '([^']+)'", message)
        if match and match[1] in self.failed:
            return f"{message} (its details are on row {self.failed[match[1]]}, which has problems)"
        return message

    def _times(self, number: int, values: dict[str, str], problems: list[RowProblem]
               ) -> tuple[datetime | None, datetime | None]:
        tz = self.settings.tz
        try:
            day = parse_day(values["date"])
        except ValueError as error:
            problems.append(RowProblem(number, "date", str(error)))
            return None, None
        start = end = None
        start_clock = end_clock = None
        try:
            start_clock = parse_clock(values["start"])
            start = local_to_utc(day, start_clock, tz)
        except ValueError as error:
            problems.append(RowProblem(number, "start", str(error)))
        try:
            end_clock = parse_clock(values["end"])
            # An end earlier than the start is the next morning (a visit across midnight).
            end_day = day + timedelta(days=1) if start_clock and end_clock < start_clock else day
            end = local_to_utc(end_day, end_clock, tz)
        except ValueError as error:
            problems.append(RowProblem(number, "end", str(error)))
        return start, end

    def _adult(self, number: int, values: dict[str, str]
               ) -> tuple[AdultIn | None, list[RowProblem]]:
        if not any(values.get(column) for column in ADULT_COLUMNS):
            return None, []  # a reference only: the adult must exist already
        data: dict[str, Any] = {
            "given_name": values.get("adult_given_name", ""),
            "family_name": values.get("adult_family_name", ""),
            "address": values.get("adult_address") or None,
            "postcode": values.get("adult_postcode") or None,
            "landlines": _split(values.get("adult_landlines", "")),
            "rag": values.get("adult_rag", "").lower(),
            "client_number": values.get("adult_client_number") or None,
        }
        adult, problems = _validate(AdultIn, data, self.settings, _ADULT_FIELD_COLUMN, number)
        if adult is not None and values["adult_ref"] in self.adults:
            first_row, first = self.adults[values["adult_ref"]]
            if first != adult:
                return None, [RowProblem(number, "adult_given_name", (
                    f"adult {values['adult_ref']} has different details on row {first_row}; "
                    "give the same details on every row of one adult, or leave them blank"))]
            return None, []
        return adult, problems

    def _carers(self, number: int, values: dict[str, str]
                ) -> tuple[list[tuple[str, CareWorkerIn]], list[RowProblem]]:
        refs = _split(values["care_worker_refs"])
        lists = {column: _split(values.get(column, "")) for column in CARER_COLUMNS}
        if not any(lists.values()):
            return [], []  # references only: the carers must exist already
        problems = [
            RowProblem(number, column, f"{len(items)} entries for {len(refs)} care_worker_refs; "
                       "give one per care worker, in the same order, separated by ';'")
            for column, items in lists.items() if len(items) != len(refs)
        ]
        if problems:
            return [], problems
        carers = []
        for index, ref in enumerate(refs):
            data = {"staff_number": lists["care_worker_staff_numbers"][index],
                    "given_name": lists["care_worker_given_names"][index],
                    "family_name": lists["care_worker_family_names"][index]}
            carer, found = _validate(CareWorkerIn, data, self.settings, _CARER_FIELD_COLUMN,
                                     number, f"care worker {ref}: ")
            problems += found
            if carer is None:
                continue
            if ref in self.carers:
                first_row, first = self.carers[ref]
                if first != carer:
                    problems.append(RowProblem(number, "care_worker_staff_numbers", (
                        f"care worker {ref} has different details on row {first_row}; give the "
                        "same details on every row")))
                continue
            carers.append((ref, carer))
        return carers, problems


def _records(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    text = text.removeprefix("\ufeff")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise RotaFileError("The first row must be the header (column names); it is empty. "
                            f"Required columns: {', '.join(REQUIRED_COLUMNS)}.")
    header = [cell.strip().lower().replace(" ", "_") for cell in rows[0]]
    return header, [(number, record) for number, record in enumerate(rows[1:], start=2)
                    if any(cell.strip() for cell in record)]


def _check_header(header: list[str], report: ImportReport) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise RotaFileError(f"The header (row 1) lacks the required column(s): "
                            f"{', '.join(missing)}. The template on the office's rota page (or "
                            "docs/rota-csv.md) lists them.")
    duplicated = sorted({c for c in header if c and header.count(c) > 1})
    if duplicated:
        raise RotaFileError(f"The header (row 1) names column(s) twice: {', '.join(duplicated)}.")
    unknown = [c for c in header if c and c not in KNOWN_COLUMNS]
    if unknown:
        report.warnings.append(f"Column(s) not used by the import: {', '.join(unknown)}.")


def import_rota_csv(session: Session, text_or_path: str | bytes | Path, settings: Settings,
                    now: datetime, actor: str, skip_bad_rows: bool = False, *,
                    dry_run: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import a rota CSV (text, bytes or a path) into the session's transaction; see the report.

    Without skip_bad_rows one bad row means nothing is stored (the work is rolled back to where
    it began); with it the good rows are stored and the bad ones reported. A dry run validates
    and counts everything, then stores nothing. The caller commits.
    """
    report = ImportReport(dry_run=dry_run)
    try:
        if isinstance(text_or_path, Path):
            raw: str | bytes = text_or_path.read_bytes()
        else:
            raw = text_or_path
        if isinstance(raw, bytes):
            text, report.encoding = decode_rota(raw)
        else:
            text, report.encoding = raw, "text"
        header, records = _records(text)
        _check_header(header, report)
    except RotaFileError as error:
        report.problems.append(RowProblem(None, "", str(error)))
        return report
    if report.encoding == "windows-1252":
        report.warnings.append("The file is not UTF-8; it was read as Windows-1252.")

    reader = _RotaReader(header, settings)
    report.rows = len(records)
    rows: list[_Row] = []
    for done, (number, record) in enumerate(records, start=1):
        extra = [cell for cell in record[len(header):] if cell.strip()]
        if extra:
            report.problems.append(RowProblem(number, "", f"the row has {len(record)} cells but "
                                              f"the header has {len(header)} columns"))
        else:
            values = {column: (record[i].strip() if i < len(record) else "")
                      for i, column in enumerate(header) if column}
            row, problems = reader.read(number, values)
            if row is None:
                reader.note_failure(number, values)
                report.problems += problems
            else:
                reader.remember(row)
                rows.append(row)
        if progress is not None:
            progress(done, len(records))
    result = None
    if not dry_run and not report.problems:
        # The usual file: every row reads well, so try it whole in one pass; only when the
        # loader refuses something (nothing stored then) are the rows checked one by one.
        attempt = load_rota(session, _items(rows)[0], settings=settings, now=now, actor=actor,
                            mode="all_or_nothing")
        if attempt.stored:
            good, result, report.stored = rows, attempt, True
    if result is None:
        good, result = _load_rows(session, reader, rows, report, settings, now, actor)
        if not (dry_run or (report.problems and not skip_bad_rows)):
            result = load_rota(session, _items(good)[0], settings=settings, now=now,
                               actor=actor)
            report.stored = True
    report.problems.sort(key=lambda p: -1 if p.row is None else p.row)
    report.imported_rows = len(good)
    for item in result.results:
        if item.change is not None:
            report.counts[item.kind][item.change] += 1
    return report


_Owner = tuple[_Row, dict[str, str], str]


def _items(rows: list[_Row]) -> tuple[list[RotaItem], list[_Owner]]:
    """The batch of a file's rows, and for each item its row, columns and label."""
    items: list[RotaItem] = []
    owners: list[_Owner] = []
    for row in rows:
        if row.adult is not None:
            items.append(RotaItem("adult", row.adult_ref, row.adult))
            owners.append((row, _ADULT_FIELD_COLUMN, ""))
        for ref, carer in row.carers:
            items.append(RotaItem("care_worker", ref, carer))
            owners.append((row, _CARER_FIELD_COLUMN, f"care worker {ref}: "))
        items.append(RotaItem("planned_visit", row.visit_ref, row.visit))
        owners.append((row, _VISIT_FIELD_COLUMN, ""))
    return items, owners


def _load_rows(session: Session, reader: _RotaReader, rows: list[_Row], report: ImportReport,
               settings: Settings, now: datetime, actor: str) -> tuple[list[_Row], LoadResult]:
    """Check the rows as one batch (the loader, storing nothing) until only good rows are left.

    A row is imported whole or not at all: a row with a refused item drops out, and with it the
    client or carers whose details it carried, so rows naming them are checked again.
    """
    good = list(rows)
    while True:
        items, owners = _items(good)
        result = load_rota(session, items, settings=settings, now=now, actor=actor,
                           dry_run=True)
        refused = result.invalid
        if not refused:
            return good, result
        bad = {id(owners[item.index][0]) for item in refused}
        for row in good:
            if id(row) in bad:
                reader.forget(row)
                if row.adult is not None:
                    reader.failed.setdefault(row.adult_ref, row.number)
                for ref, _carer in row.carers:
                    reader.failed.setdefault(ref, row.number)
        for item in refused:
            row, columns, label = owners[item.index]
            fields = [FieldProblem(f.field, reader.hint(f.message)) for f in item.fields]
            report.problems += _column_problems(fields, columns, row.number, label)
        good = [row for row in good if id(row) not in bad]
