"""Import of a canonical bundle: the lender's records as CSV files in one folder.

Every file is UTF-8 (a byte-order mark is fine) with a header row; header
names ignore case and surrounding spaces, extra columns are ignored, values
are stripped. Only ``loans.csv`` must be present. The files are read in the
order below, so a row may refer to a good row of an earlier file of the same
bundle or to a record already in the database.

``borrowers.csv``: borrower_id, name, phone, address, country (optional),
    synthetic (optional). borrower_id and name must not be empty. phone
    holds none, one or several numbers separated by ``;``; each becomes a
    phone of the borrower, in that order, in E.164 with its line type.
    country is the ISO 3166 alpha-2 code the numbers are read in (default
    CN): a number without ``+`` is taken as dialled in that country.
    synthetic is true for made-up records (demos, tests), false or empty for
    real ones.
``loans.csv``: loan_id, borrower_id, product, principal, branch, officer,
    currency (optional). loan_id, borrower_id and product must not be empty;
    principal may be empty (unknown); branch and officer may be empty
    (unassigned). currency is three letters, CNY when the column is absent.
``guarantors.csv``: guarantor_id, loan_id, kind, name, phone, country and
    synthetic (optional, as for borrowers). One row per guarantor and loan
    guaranteed: a guarantor of two loans has two rows, with the same name
    and phone. kind is guarantor, joint_guarantor or counter_guarantor (or
    担保人, 联保人, 反担保人). phone is one number or empty.
``installments.csv``: loan_id, seq, due_on, amount. seq is a whole number
    from 0 up, unique per loan; amount may be zero (a grace period).
``payments.csv``: payment_id, loan_id, paid_on, amount. amount must be more
    than zero.

Dates are ISO 8601 ``YYYY-MM-DD``. Amounts are plain decimals (``1234.56``,
no thousands separators or exponents), never negative, rounded half-up to
cents.

Rows are checked one by one; a row with a problem is left out as a reject
naming its first problem, and every other row still lands. Rejects are listed
in ``rejects.csv`` (file, line, column, value, reason; line 1 is the header;
phone numbers masked to their last four digits). Borrowers, loans,
guarantors and installments already stored are updated when a field changed;
payments are immutable, so a payment_id stored with a different loan, date
or amount is rejected. Nothing is deleted but a borrower's phone that is no
longer listed; one a channel has marked (opted out, invalid) is kept instead,
after the listed ones, so what was learnt about it is not lost. Importing the
same bundle again writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import Column, Table
from sqlalchemy.orm import Session

from dunning.importing.common import (
    BadField,
    Counts,
    CsvFile,
    ImportFileError,
    ImportReport,
    InvalidValue,
    Progress,
    Reject,
    Row,
    parse_amount,
    parse_date,
    parse_whole,
    parsed,
    read_csv,
    report_progress,
    required,
    write_rejects,
)
from dunning.importing.records import (
    BORROWERS,
    GUARANTORS,
    LOANS,
    PAYMENT_FIELDS,
    PAYMENTS,
    insert_payments,
    stored_ids,
    stored_payments,
    sync_borrowers,
    sync_guarantors,
    sync_installments,
    sync_loan_guarantors,
    sync_loans,
)
from dunning.models import GuarantorKind
from dunning.phones import InvalidPhoneNumber, PhoneNumber, mask, normalise

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileSpec:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


BORROWERS_CSV = FileSpec(
    "borrowers.csv",
    ("borrower_id", "name", "phone", "address"),
    ("country", "synthetic"),
)
LOANS_CSV = FileSpec(
    "loans.csv",
    ("loan_id", "borrower_id", "product", "principal", "branch", "officer"),
    ("currency",),
)
GUARANTORS_CSV = FileSpec(
    "guarantors.csv",
    ("guarantor_id", "loan_id", "kind", "name", "phone"),
    ("country", "synthetic"),
)
INSTALLMENTS_CSV = FileSpec("installments.csv", ("loan_id", "seq", "due_on", "amount"))
PAYMENTS_CSV = FileSpec("payments.csv", ("payment_id", "loan_id", "paid_on", "amount"))
BUNDLE = (BORROWERS_CSV, LOANS_CSV, GUARANTORS_CSV, INSTALLMENTS_CSV, PAYMENTS_CSV)

DEFAULT_COUNTRY = "CN"
DEFAULT_CURRENCY = "CNY"
# Installment.seq is a 32-bit integer column on PostgreSQL.
MAX_SEQ = 2**31 - 1

# Made-up records (demos, tests) say so; empty means a real record.
SYNTHETIC = {"": False, "false": False, "no": False, "0": False}
SYNTHETIC |= {"true": True, "yes": True, "1": True}

KINDS = {
    "guarantor": GuarantorKind.GUARANTOR,
    "joint_guarantor": GuarantorKind.JOINT_GUARANTOR,
    "counter_guarantor": GuarantorKind.COUNTER_GUARANTOR,
    "担保人": GuarantorKind.GUARANTOR,
    "联保人": GuarantorKind.JOINT_GUARANTOR,
    "反担保人": GuarantorKind.COUNTER_GUARANTOR,
}


def import_canonical(
    session: Session,
    directory: Path,
    out_dir: Path,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the canonical bundle in ``directory``; rejects go to ``out_dir``.

    Writes through ``session`` without committing: the caller owns the
    transaction.

    Raises:
        ImportFileError: the folder or its loans.csv is missing, or a file is
            unreadable or lacks a required column. Nothing is written then.
    """
    if not directory.is_dir():
        raise ImportFileError(f"bundle folder {directory} does not exist")
    # Every file is read and its header checked before anything is written.
    files: dict[str, CsvFile] = {}
    for spec in BUNDLE:
        path = directory / spec.name
        if spec is not LOANS_CSV and not path.exists():
            continue
        files[spec.name] = read_csv(path, spec.required, spec.optional)

    report = ImportReport(source=str(directory))
    bundle = _Bundle(session, report, files, progress)
    bundle.borrowers()
    bundle.loans()
    bundle.guarantors()
    bundle.installments()
    bundle.payments()

    write_rejects(report, out_dir)
    for line in report.summary_lines():
        log.info(line)
    return report


@dataclass
class _Seen:
    """Keys of one file's good rows, and of rows rejected, by line."""

    good: dict[Any, int] = field(default_factory=dict)
    rejected: dict[Any, int] = field(default_factory=dict)

    def duplicate(self, key: Any, column: str, value: str, what: str) -> None:
        if key in self.good:
            raise BadField(
                column,
                value,
                f"duplicate of line {self.good[key]}; each {what} may appear only once",
            )


class _Bundle:
    def __init__(
        self,
        session: Session,
        report: ImportReport,
        files: dict[str, CsvFile],
        progress: Progress | None,
    ) -> None:
        self.session = session
        self.report = report
        self.files = files
        self.progress = progress
        self.total = sum(len(f.rows) + len(f.malformed) for f in files.values())
        self.done = 0
        self.borrower_keys = _Seen()
        self.loan_keys = _Seen()

    def _rows(self, spec: FileSpec) -> tuple[CsvFile, Counts] | None:
        csv_file = self.files.get(spec.name)
        if csv_file is None:
            return None
        counts = self.report.counts.setdefault(spec.name, Counts())
        counts.read = len(csv_file.rows) + len(csv_file.malformed)
        for reject in csv_file.malformed:
            self._reject(counts, reject)
        return csv_file, counts

    def _has_column(self, spec: FileSpec, column: str) -> bool:
        csv_file = self.files.get(spec.name)
        return csv_file is not None and column in csv_file.columns

    def _reject(self, counts: Counts, reject: Reject) -> None:
        counts.rejected += 1
        self.report.rejects.append(reject)
        self._tick()

    def _tick(self) -> None:
        self.done += 1
        report_progress(self.progress, self.done, self.total)

    def _sort_rejects(self, name: str) -> None:
        # Malformed rows were rejected first; a file's rejects read best by line.
        mine = [r for r in self.report.rejects if r.file == name]
        others = [r for r in self.report.rejects if r.file != name]
        self.report.rejects = others + sorted(mine, key=lambda r: r.line)

    def _known(self, table: Table, seen: _Seen, ids: Iterable[str]) -> set[str]:
        """Ids that are good rows of this bundle or already stored."""
        ids = set(ids)
        return (ids & seen.good.keys()) | stored_ids(
            self.session, table, ids - seen.good.keys()
        )

    def _missing(self, what: str, file: str, seen: _Seen, key: str) -> str:
        if key in seen.rejected:
            return (
                f"{what} {key} was rejected in {file} (line {seen.rejected[key]}) "
                "and is not in the database"
            )
        return f"{what} {key} is not in {file} nor in the database"

    def _each(
        self,
        spec: FileSpec,
        check: Callable[[Row], Any],
        seen: _Seen | None = None,
        key_column: str = "",
    ) -> tuple[list[tuple[Row, Any]], Counts] | None:
        """Check every row; return the good ones with what ``check`` made of them."""
        found = self._rows(spec)
        if found is None:
            return None
        csv_file, counts = found
        good: list[tuple[Row, Any]] = []
        for row in csv_file.rows:
            try:
                good.append((row, check(row)))
            except BadField as bad:
                if seen is not None and row[key_column]:
                    seen.rejected.setdefault(row[key_column], row.line)
                self._reject(counts, bad.reject(spec.name, row.line))
                continue
            self._tick()
        self._sort_rejects(spec.name)
        return good, counts

    def borrowers(self) -> None:
        seen = self.borrower_keys

        def check(row: Row) -> tuple[dict[str, Any], list[PhoneNumber]]:
            borrower_id = _text(row, "borrower_id", BORROWERS.c.id)
            name = _text(row, "name", BORROWERS.c.name)
            address = _text(row, "address", BORROWERS.c.address, optional=True)
            country = _country(row)
            numbers = [_phone(part, "phone", country) for part in _split(row["phone"])]
            seen.duplicate(borrower_id, "borrower_id", borrower_id, "borrower_id")
            record = {
                "name": name,
                "address": address,
                "country": country,
                "synthetic": _synthetic(row),
            }
            # Only a row that passed every check vouches for its loans.
            seen.good[borrower_id] = row.line
            return record, numbers

        checked = self._each(BORROWERS_CSV, check, seen, "borrower_id")
        if checked is None:
            return
        good, counts = checked
        records = {row["borrower_id"]: rec for row, (rec, _) in good}
        phones = {row["borrower_id"]: nums for row, (_, nums) in good}
        for outcome in sync_borrowers(self.session, records, phones).values():
            counts.add(outcome)

    def loans(self) -> None:
        csv_file = self.files[LOANS_CSV.name]
        seen = self.loan_keys
        known = self._known(
            BORROWERS, self.borrower_keys, (r["borrower_id"] for r in csv_file.rows)
        )
        has_currency = self._has_column(LOANS_CSV, "currency")

        def check(row: Row) -> dict[str, Any]:
            loan_id = _text(row, "loan_id", LOANS.c.id)
            borrower_id = required(row, "borrower_id")
            product = _text(row, "product", LOANS.c.product)
            branch = _text(row, "branch", LOANS.c.branch, optional=True)
            officer = _text(row, "officer", LOANS.c.officer, optional=True)
            principal = _optional_amount(row, "principal")
            currency = _currency(row) if has_currency else DEFAULT_CURRENCY
            if borrower_id not in known:
                reason = self._missing(
                    "borrower", BORROWERS_CSV.name, self.borrower_keys, borrower_id
                )
                raise BadField("borrower_id", borrower_id, reason)
            seen.duplicate(loan_id, "loan_id", loan_id, "loan_id")
            seen.good[loan_id] = row.line
            return {
                "borrower_id": borrower_id,
                "product": product,
                "principal": principal,
                "currency": currency,
                "branch": branch,
                "officer": officer,
            }

        checked = self._each(LOANS_CSV, check, seen, "loan_id")
        assert checked is not None  # loans.csv is required, so it was read
        good, counts = checked
        records = {row["loan_id"]: rec for row, rec in good}
        for outcome in sync_loans(self.session, records).values():
            counts.add(outcome)

    def _loan_check(self, spec: FileSpec) -> Callable[[Row], str]:
        """A check that the row's non-empty loan_id names a known loan."""
        csv_file = self.files.get(spec.name)
        rows = csv_file.rows if csv_file is not None else []
        known = self._known(LOANS, self.loan_keys, (r["loan_id"] for r in rows))

        def check(row: Row) -> str:
            loan_id = required(row, "loan_id")
            if loan_id not in known:
                reason = self._missing("loan", LOANS_CSV.name, self.loan_keys, loan_id)
                raise BadField("loan_id", loan_id, reason)
            return loan_id

        return check

    def guarantors(self) -> None:
        loan_of = self._loan_check(GUARANTORS_CSV)
        seen = _Seen()
        first: dict[str, tuple[int, dict[str, Any]]] = {}
        has_country = self._has_column(GUARANTORS_CSV, "country")

        def check(row: Row) -> tuple[str, str, GuarantorKind, dict[str, Any]]:
            guarantor_id = _text(row, "guarantor_id", GUARANTORS.c.id)
            loan_id = loan_of(row)
            kind_text = required(row, "kind")
            kind = KINDS.get(kind_text.lower())
            if kind is None:
                raise BadField(
                    "kind",
                    kind_text,
                    "kind must be one of guarantor, joint_guarantor, "
                    "counter_guarantor (or 担保人, 联保人, 反担保人)",
                )
            name = _text(row, "name", GUARANTORS.c.name)
            country = _country(row) if has_country else DEFAULT_COUNTRY
            number = (
                _phone(row["phone"], "phone", country, several=False)
                if row["phone"]
                else None
            )
            record = {
                "name": name,
                "phone": number.e164 if number else "",
                "phone_line_type": number.line_type if number else "unknown",
                "synthetic": _synthetic(row),
            }
            key = (guarantor_id, loan_id)
            seen.duplicate(key, "guarantor_id", guarantor_id, "(guarantor_id, loan_id)")
            if guarantor_id in first:
                line, earlier = first[guarantor_id]
                for column, shown in (("name", name), ("phone", mask(row["phone"]))):
                    if earlier[column] != record[column]:
                        raise BadField(
                            column,
                            shown,
                            f"guarantor {guarantor_id} has a different {column} on "
                            f"line {line}; a guarantor has one name and one phone",
                        )
            else:
                first[guarantor_id] = (row.line, record)
            seen.good[key] = row.line
            return guarantor_id, loan_id, kind, record

        checked = self._each(GUARANTORS_CSV, check)
        if checked is None:
            return
        good, counts = checked
        records = {g: rec for _, (g, _, _, rec) in good}
        links = {(loan, g): kind for _, (g, loan, kind, _) in good}
        guarantor_outcomes = sync_guarantors(self.session, records)
        link_outcomes = sync_loan_guarantors(self.session, links)
        # A row is updated by a change of its link, or of its guarantor when it
        # is the guarantor's first row, so each change is counted once.
        for row, (g, loan, _, _) in good:
            outcome = link_outcomes[(loan, g)]
            if (
                outcome == "unchanged"
                and first[g][0] == row.line
                and guarantor_outcomes[g] != "unchanged"
            ):
                outcome = "updated"
            counts.add(outcome)

    def installments(self) -> None:
        loan_of = self._loan_check(INSTALLMENTS_CSV)
        seen = _Seen()

        def check(row: Row) -> tuple[tuple[str, int], dict[str, Any]]:
            loan_id = loan_of(row)
            seq = parsed(row, "seq", _seq)
            due_on = parsed(row, "due_on", parse_date)
            amount = parsed(row, "amount", parse_amount)
            key = (loan_id, seq)
            seen.duplicate(key, "seq", row["seq"], "(loan_id, seq)")
            seen.good[key] = row.line
            return key, {"due_on": due_on, "amount": amount}

        checked = self._each(INSTALLMENTS_CSV, check)
        if checked is None:
            return
        good, counts = checked
        records = dict(rec for _, rec in good)
        for outcome in sync_installments(self.session, records).values():
            counts.add(outcome)

    def payments(self) -> None:
        loan_of = self._loan_check(PAYMENTS_CSV)
        csv_file = self.files.get(PAYMENTS_CSV.name)
        rows = csv_file.rows if csv_file is not None else []
        stored = stored_payments(self.session, (r["payment_id"] for r in rows))
        seen = _Seen()

        def check(row: Row) -> dict[str, Any]:
            payment_id = _text(row, "payment_id", PAYMENTS.c.id)
            loan_id = loan_of(row)
            paid_on = parsed(row, "paid_on", parse_date)
            amount = parsed(row, "amount", _payment_amount)
            seen.duplicate(payment_id, "payment_id", payment_id, "payment_id")
            record = {
                "id": payment_id,
                "loan_id": loan_id,
                "paid_on": paid_on,
                "amount": amount,
            }
            old = stored.get(payment_id)
            if old is not None:
                _same_payment(payment_id, old, record, row)
            seen.good[payment_id] = row.line
            return record

        checked = self._each(PAYMENTS_CSV, check)
        if checked is None:
            return
        good, counts = checked
        new = [rec for _, rec in good if rec["id"] not in stored]
        insert_payments(self.session, new)
        counts.inserted += len(new)
        counts.unchanged += len(good) - len(new)


def _same_payment(
    payment_id: str, old: dict[str, Any], new: dict[str, Any], row: Row
) -> None:
    for column in PAYMENT_FIELDS:
        if old[column] != new[column]:
            raise BadField(
                column,
                row[column],
                f"payment {payment_id} is already recorded with {column} "
                f"{_shown(old[column])}; payments cannot be changed, so record "
                "a correction under a new payment_id",
            )


def _text(
    row: Row, column: str, stored_in: Column[Any], *, optional: bool = False
) -> str:
    """The row's text for ``column``, refused if longer than the store keeps."""
    value = row[column] if optional else required(row, column)
    limit = getattr(stored_in.type, "length", None)
    if limit is not None and len(value) > limit:
        raise BadField(
            column, value, f"{column} must be at most {limit} characters long"
        )
    return value


def _shown(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def _split(phones: str) -> list[str]:
    return [part.strip() for part in phones.split(";") if part.strip()]


def _phone(raw: str, column: str, country: str, several: bool = True) -> PhoneNumber:
    try:
        return normalise(raw, country)
    except InvalidPhoneNumber as exc:
        expected = (
            f"{column} must hold valid phone numbers for country {country}, "
            "several separated by ;"
            if several
            else f"{column} must hold one valid phone number for country {country}"
        )
        raise BadField(column, mask(raw), expected) from exc


def _country(row: Row) -> str:
    text = row["country"]
    if not text:
        return DEFAULT_COUNTRY
    country = text.upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        raise BadField(
            "country", text, "country must be an ISO 3166 alpha-2 code like CN"
        )
    return country


def _synthetic(row: Row) -> bool:
    text = row["synthetic"].lower()
    if text not in SYNTHETIC:
        raise BadField(
            "synthetic", row["synthetic"], "synthetic must be true or false (or empty)"
        )
    return SYNTHETIC[text]


def _currency(row: Row) -> str:
    text = row["currency"]
    if not text:
        # An empty cell means the same as no column: the lender's own currency.
        return "CNY"
    if not (len(text) == 3 and text.isascii() and text.isalpha()):
        raise BadField("currency", text, "currency must be 3 letters like CNY")
    return text.upper()


def _optional_amount(row: Row, column: str) -> Decimal | None:
    if not row[column]:
        return None
    try:
        return parse_amount(row[column], column)
    except InvalidValue as exc:
        reason = str(exc).replace(" must be a ", " must be empty or a ", 1)
        raise BadField(column, row[column], reason) from exc


def _payment_amount(text: str, column: str) -> Decimal:
    # A payment of nothing is a typing mistake, not money received.
    return parse_amount(text, column, positive=True)


def _seq(text: str, column: str) -> int:
    reason = f"{column} must be a whole number from 0 up, like 3"
    seq = parse_whole(text, column, reason)
    if not 0 <= seq <= MAX_SEQ:
        raise InvalidValue(reason)
    return seq
