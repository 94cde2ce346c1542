"""What every importer shares: the report, rejects, CSV reading, value parsing."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

from dunning.errors import DunningError

T = TypeVar("T")

Progress = Callable[[int, int], None]

# How often an importer reports progress, in rows.
PROGRESS_EVERY = 1000

CENT = Decimal("0.01")
# Money columns are Numeric(16, 2): fourteen digits before the point.
# Twelve digits before the point: SQLite keeps numbers as doubles, which are
# exact to the cent only up to about fifteen significant digits.
MAX_AMOUNT = Decimal(10) ** 12

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# ASCII digits only: \d would also take full-width and other scripts' digits.
_DECIMAL = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)")

REJECT_COLUMNS = ("file", "line", "column", "value", "reason")


class ImportFileError(DunningError):
    """A file of an import is missing, unreadable or lacks a required column.

    Nothing of the import is written when this is raised: the whole file (or
    bundle) is unusable, unlike a bad row, which becomes a reject.
    """


class InvalidValue(ValueError):
    """A field's text is not what its column holds; the message is the reason."""


class BadField(Exception):
    """Why one row is rejected: the column, its (masked) value and the reason."""

    def __init__(self, column: str, value: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.value = value
        self.reason = reason

    def reject(self, file: str, line: int) -> Reject:
        return Reject(file, line, self.column, self.value, self.reason)


@dataclass(frozen=True)
class Reject:
    """One row left out of an import, and why.

    ``line`` counts the header as line 1. ``value`` is masked for phone
    columns before a Reject is ever built, so it is safe to show anywhere.
    """

    file: str
    line: int
    column: str
    value: str
    reason: str


@dataclass
class Counts:
    """Rows of one file (or records of one kind) and what became of them."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass
class ImportReport:
    """What an import read, wrote and left out.

    ``counts`` is keyed by file name (``loans.csv``) and counts its rows:
    read is inserted + updated + unchanged + rejected. Importers that derive
    several kinds of record from one file also count the records of each kind,
    keyed ``<file>: <kind>`` (``installments_payments.csv: loans``); a row of
    such a file counts as inserted (or updated) when any record it carries was.
    """

    source: str
    counts: dict[str, Counts] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    rejects_path: Path | None = None
    # Facts the operator should know that are not about one row.
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(c.inserted or c.updated for c in self.counts.values())

    def summary_lines(self) -> list[str]:
        lines = [f"import of {self.source}"]
        for name, c in self.counts.items():
            lines.append(
                f"  {name}: {c.read} read, {c.inserted} inserted, "
                f"{c.updated} updated, {c.unchanged} unchanged, "
                f"{c.rejected} rejected"
            )
        lines.extend(f"  note: {note}" for note in self.notes)
        if self.rejects_path is not None:
            lines.append(
                f"  {len(self.rejects)} rejects written to {self.rejects_path}"
            )
        return lines


def write_rejects(report: ImportReport, out_dir: Path) -> None:
    """Write the report's rejects to ``out_dir/rejects.csv``, if there are any."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "rejects.csv"
    if not report.rejects:
        # A rejects file left by an earlier import would be mistaken for this one's.
        path.unlink(missing_ok=True)
        report.rejects_path = None
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECT_COLUMNS)
        for r in report.rejects:
            writer.writerow((r.file, r.line, r.column, r.value, r.reason))
    report.rejects_path = path


@dataclass(frozen=True)
class Row:
    """One data row of a CSV file, addressed by column name."""

    line: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass
class CsvFile:
    name: str
    columns: list[str]
    rows: list[Row]
    # Rows whose field count does not match the header, as rejects.
    malformed: list[Reject]


def read_csv(
    path: Path, required: Sequence[str], optional: Sequence[str] = ()
) -> CsvFile:
    """Read a whole UTF-8 CSV file with a header row.

    Header names are matched without regard to case or surrounding spaces;
    values are stripped. Blank lines are skipped and not counted as rows.

    Raises:
        ImportFileError: the file is missing, not UTF-8, empty, or lacks one
            of the ``required`` columns.
    """
    name = path.name
    try:
        # utf-8-sig: spreadsheets save UTF-8 with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ImportFileError(f"{name} not found at {path}") from exc
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{name} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV"
        ) from exc

    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    expected = ", ".join(required)
    if optional:
        expected += f" (optional: {', '.join(optional)})"
    if not header:
        raise ImportFileError(f"{name} is empty; expected a header row: {expected}")
    # The file's spelling of a header gives way to the expected one, so the
    # importers and their rejects name columns one way whatever the source.
    spelling = {c.lower(): c for c in (*required, *optional)}
    columns = [spelling.get(h.strip().lower(), h.strip().lower()) for h in header]
    for column in columns:
        if columns.count(column) > 1:
            raise ImportFileError(f"{name} has the column {column!r} more than once")
    for column in required:
        if column not in columns:
            raise ImportFileError(
                f"{name} has no column {column!r}; expected columns: {expected}"
            )

    rows: list[Row] = []
    malformed: list[Reject] = []
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(columns):
            malformed.append(
                Reject(
                    name,
                    reader.line_num,
                    "",
                    "",
                    f"row has {len(fields)} fields but the header has {len(columns)}",
                )
            )
            continue
        values = {c: f.strip() for c, f in zip(columns, fields, strict=True)}
        rows.append(Row(reader.line_num, values))
    return CsvFile(name, columns, rows, malformed)


def required(row: Row, column: str) -> str:
    value = row[column]
    if not value:
        raise BadField(column, "", f"{column} must not be empty")
    return value


def parsed(row: Row, column: str, parse: Callable[[str, str], T]) -> T:
    """``parse`` the row's non-empty ``column``, turning its complaint into a reject."""
    text = required(row, column)
    try:
        return parse(text, column)
    except InvalidValue as exc:
        raise BadField(column, text, str(exc)) from exc


def parse_date(text: str, column: str) -> date:
    # fromisoformat alone would also take 20260131 and week dates.
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise InvalidValue(f"{column} must be an ISO 8601 date YYYY-MM-DD")


def parse_amount(text: str, column: str, *, positive: bool = False) -> Decimal:
    """A money amount, rounded half-up to cents; never negative.

    Plain decimal notation only (no exponents, thousands separators, NaN or
    infinity), so a value that a spreadsheet mangled is caught rather than
    guessed at. With ``positive`` zero is refused too.
    """
    kind = "positive" if positive else "non-negative"
    reason = f"{column} must be a {kind} decimal like 1234.56"
    if not _DECIMAL.fullmatch(text):
        raise InvalidValue(reason)
    try:
        amount = Decimal(text).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise InvalidValue(reason) from exc
    if amount < 0 or (positive and amount == 0):
        raise InvalidValue(reason)
    if amount == 0:
        amount = abs(amount)  # "-0" is zero, not a negative amount
    if amount >= MAX_AMOUNT:
        raise InvalidValue(f"{column} must have at most 12 digits before the point")
    return amount


def parse_whole(text: str, column: str, reason: str) -> int:
    """A whole number, also when written as a float (``11.0``), as exports do."""
    if not _DECIMAL.fullmatch(text):
        raise InvalidValue(reason)
    number = Decimal(text)
    if number != number.to_integral_value():
        raise InvalidValue(reason)
    return int(number)


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def report_progress(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
        progress(done, total)
