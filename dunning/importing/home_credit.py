"""Adapter for the Home Credit ``installments_payments.csv`` sample.

Each row is one payment entry of one installment of one loan:

- SK_ID_PREV is the loan and SK_ID_CURR its borrower; their ids are the
  numbers as text (``2108382``).
- NUM_INSTALMENT_VERSION and NUM_INSTALMENT_NUMBER name the installment.
  Rows repeating them for a loan are the same installment paid in several
  entries, and must agree on its due day and amount. The installment's seq is
  ``NUMBER * 100 + VERSION``, so a rescheduled version of an installment
  sorts next to the original; versions go from 0 to 99.
- DAYS_INSTALMENT (due) and DAYS_ENTRY_PAYMENT (paid) are days relative to an
  anchor date: day 0 is the anchor (``home_credit.anchor`` in
  config/adapters.yaml), so -1 is the day before it.
- AMT_INSTALMENT is the installment's amount. A row with DAYS_ENTRY_PAYMENT
  and AMT_PAYMENT is also a payment of the loan, with id
  ``hc-<SK_ID_PREV>-L<line>``, line counting the header as 1. A row with
  both empty is an installment with no payment. A zero AMT_PAYMENT is kept:
  it is an entry of the source, and adds nothing to what was paid.
- Amounts carry no currency in the source; the configured one is used.
  Amounts are rounded half-up to cents.

The sample has no principal (it lives in another Home Credit table), so
loans get none. It has no contact details or guarantors either; those are
generated, deterministically, and marked: ``synthetic`` is true and every
generated name says 生成.

- A borrower is named ``样例客户 <id>（生成）``, lives at
  ``（生成）样例路 N 号`` and has one number from the NANP range reserved for
  fiction, +1 NPA 555-0100 to 555-0199, country US. Borrowers in the order of
  their ids take numbers in order, then the guarantors: numbers are unique
  while a file has no more than ``len(AREA_CODES) * 100`` contacts, and the
  report says so when they are not. The same file always gives the same
  numbers; another file may give a borrower another number.
- A loan's branch and officer are picked from the configured ones by its id.
- Loans whose id modulo ``guarantors.modulus`` is ``guarantors.remainder``
  (default: every fourth) get one guarantor, ``hc-<loan id>-g``, its kind
  rotating through guarantor, joint guarantor and counter-guarantor.

Ids the source shares with records of another source (a canonical bundle)
are the same records: their fields are overwritten by the generated ones.
Payments are immutable, so importing with another anchor is for a fresh
database: into one that holds the earlier import, every paid row is rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from dunning.errors import ConfigError, DunningError
from dunning.importing.common import (
    BadField,
    Counts,
    ImportReport,
    InvalidValue,
    Progress,
    Row,
    parse_amount,
    parse_whole,
    parsed,
    read_csv,
    report_progress,
    write_rejects,
)
from dunning.importing.records import (
    PAYMENT_FIELDS,
    insert_payments,
    stored_payments,
    sync_borrowers,
    sync_guarantors,
    sync_installments,
    sync_loan_guarantors,
    sync_loans,
)
from dunning.models import GuarantorKind
from dunning.phones import InvalidPhoneNumber, PhoneNumber, normalise

log = logging.getLogger(__name__)

LOAN = "SK_ID_PREV"
BORROWER = "SK_ID_CURR"
VERSION = "NUM_INSTALMENT_VERSION"
NUMBER = "NUM_INSTALMENT_NUMBER"
DUE_DAY = "DAYS_INSTALMENT"
PAID_DAY = "DAYS_ENTRY_PAYMENT"
DUE_AMOUNT = "AMT_INSTALMENT"
PAID_AMOUNT = "AMT_PAYMENT"
COLUMNS = (LOAN, BORROWER, VERSION, NUMBER, DUE_DAY, PAID_DAY, DUE_AMOUNT, PAID_AMOUNT)

MAX_VERSION = 99
# seq = NUMBER * 100 + VERSION must fit the 32-bit Installment.seq column.
MAX_NUMBER = (2**31 - 1) // 100 - 1

# US area codes whose 555-0100..555-0199 numbers phonenumbers accepts as valid
# geographic numbers (fixed line or mobile); that block of every area code is
# reserved for fiction, so no real subscriber is ever dialled.
# fmt: off
AREA_CODES = (
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219,
    220, 223, 224, 225, 227, 228, 229, 231, 234, 235, 239, 240, 248, 251, 252, 253, 254,
    256, 260, 262, 267, 269, 270, 272, 274, 276, 279, 281, 283, 301, 302, 303, 304, 305,
    307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 323, 324, 325,
    326, 327, 329, 330, 331, 332, 334, 336, 337, 339, 341, 346, 347, 350, 351, 352, 353,
    360, 361, 363, 364, 369, 380, 385, 386, 401, 402, 404, 405, 406, 407, 408, 409, 410,
    412, 413, 414, 415, 417, 419, 423, 424, 425, 430, 432, 434, 435, 440, 442, 443, 445,
    447, 448, 458, 463, 464, 469, 470, 472, 475, 478, 479, 480, 484, 501, 502, 503, 504,
    505, 507, 508, 509, 510, 512, 513, 515, 516, 517, 518, 520, 530, 531, 534, 539, 540,
    541, 551, 557, 559, 561, 562, 563, 564, 567, 570, 571, 572, 573, 574, 575, 580, 582,
    585, 586, 601, 602, 603, 605, 606, 607, 608, 609, 610, 612, 614, 615, 616, 617, 618,
    619, 620, 623, 626, 628, 629, 630, 631, 636, 640, 641, 645, 646, 650, 651, 656, 657,
    659, 660, 661, 662, 667, 669, 678, 680, 681, 682, 686, 689, 701, 702, 703, 704, 706,
    707, 708, 712, 713, 714, 715, 716, 717, 718, 719, 720, 724, 725, 726, 727, 728, 730,
    731, 732, 734, 737, 738, 740, 743, 747, 748, 754, 757, 760, 762, 763, 765, 769, 770,
    771, 772, 773, 774, 775, 779, 781, 785, 786, 801, 802, 803, 804, 805, 806, 808, 810,
    812, 813, 814, 815, 816, 817, 818, 820, 821, 826, 828, 830, 831, 832, 835, 838, 839,
    840, 843, 845, 847, 848, 850, 854, 856, 857, 858, 859, 860, 862, 863, 864, 865, 870,
    872, 878, 901, 903, 904, 906, 907, 908, 909, 910, 912, 913, 914, 915, 916, 917, 918,
    919, 920, 925, 928, 929, 930, 931, 934, 936, 937, 938, 940, 941, 943, 945, 947, 948,
    949, 951, 952, 954, 956, 959, 970, 971, 972, 973, 975, 978, 979, 980, 983, 984, 985,
    986, 989,
)
# fmt: on
NUMBERS_PER_AREA = 100
SYNTHETIC_COUNTRY = "US"
KIND_ROTATION = (
    GuarantorKind.GUARANTOR,
    GuarantorKind.JOINT_GUARANTOR,
    GuarantorKind.COUNTER_GUARANTOR,
)


class Branch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    officers: tuple[str, ...] = Field(min_length=1)


class GuarantorShare(BaseModel):
    """Loans whose id modulo ``modulus`` is ``remainder`` get a guarantor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # 0 gives no loan a guarantor.
    modulus: int = Field(default=4, ge=0)
    remainder: int = Field(default=0, ge=0)

    def covers(self, loan_number: int) -> bool:
        return self.modulus > 0 and loan_number % self.modulus == self.remainder


DEFAULT_BRANCHES = (
    Branch(name="样例城东支行（生成）", officers=("赵晓东（生成）", "钱立新（生成）")),
    Branch(name="样例城西支行（生成）", officers=("孙明华（生成）", "李春燕（生成）")),
    Branch(
        name="样例开发区支行（生成）", officers=("周建国（生成）", "吴海燕（生成）")
    ),
)


class HomeCreditConfig(BaseModel):
    """Settings of the Home Credit adapter: the ``home_credit`` section of
    config/adapters.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    anchor: date = date(2026, 12, 1)
    product: str = Field(default="home-credit-pos", min_length=1, max_length=64)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    payment_source: str = Field(default="home_credit", min_length=1, max_length=32)
    branches: tuple[Branch, ...] = Field(default=DEFAULT_BRANCHES, min_length=1)
    guarantors: GuarantorShare = GuarantorShare()

    @classmethod
    def load(cls, path: Path) -> HomeCreditConfig:
        """Read the ``home_credit`` section of an adapters file; absent means defaults.

        Raises:
            ConfigError: the file is missing, not YAML, or the section holds
                a value the adapter cannot use.
        """
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError as exc:
            raise ConfigError(f"adapter settings {path} not found") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(document, dict):
            raise ConfigError(f"{path} must hold a mapping of adapter sections")
        section = document.get("home_credit") or {}
        try:
            return cls.model_validate(section)
        except ValidationError as exc:
            problems = "; ".join(
                f"home_credit.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"{path}: {problems}") from exc


@dataclass
class _Rows:
    """The good rows of the file, folded into records."""

    borrower_of: dict[str, tuple[str, int]] = field(default_factory=dict)
    installments: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    installment_line: dict[tuple[str, int], int] = field(default_factory=dict)
    payments: list[dict[str, Any]] = field(default_factory=list)
    # Per good row: its loan, installment seq and payment id (None: unpaid).
    accepted: list[tuple[str, int, str | None]] = field(default_factory=list)


def import_home_credit(
    session: Session,
    path: Path,
    out_dir: Path,
    config: HomeCreditConfig | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a Home Credit installments file; rejects go to ``out_dir``.

    ``config`` defaults to the built-in settings, which are those shipped in
    config/adapters.yaml; entry points pass ``HomeCreditConfig.load(...)`` of
    the settings' adapters file. Writes through ``session`` without
    committing.

    Raises:
        ImportFileError: the file is missing, unreadable or lacks a column.
    """
    config = config or HomeCreditConfig()
    csv_file = read_csv(path, COLUMNS)
    name = csv_file.name
    report = ImportReport(source=str(path))
    file_counts = report.counts.setdefault(name, Counts())
    file_counts.read = len(csv_file.rows) + len(csv_file.malformed)
    report.rejects.extend(csv_file.malformed)

    stored = stored_payments(
        session, (_payment_id(_loan_id(r[LOAN]), r.line) for r in csv_file.rows)
    )
    rows = _Rows()
    total = file_counts.read
    for done, row in enumerate(csv_file.rows, start=len(csv_file.malformed) + 1):
        try:
            _fold(row, config, rows, stored)
        except BadField as bad:
            report.rejects.append(bad.reject(name, row.line))
        report_progress(progress, done, total)
    if not csv_file.rows:
        report_progress(progress, total, total)
    report.rejects.sort(key=lambda r: r.line)
    file_counts.rejected = len(report.rejects)

    _write(session, rows, config, report, name, stored)
    write_rejects(report, out_dir)
    for line in report.summary_lines():
        log.info(line)
    return report


def _fold(
    row: Row,
    config: HomeCreditConfig,
    rows: _Rows,
    stored: dict[str, dict[str, Any]],
) -> None:
    """Check one row and add what it says to ``rows``; raise BadField if bad."""
    loan_id = str(parsed(row, LOAN, _identifier))
    borrower_id = str(parsed(row, BORROWER, _identifier))
    version = parsed(row, VERSION, _version)
    number = parsed(row, NUMBER, _number)
    seq = number * 100 + version
    due_on = parsed(row, DUE_DAY, lambda text, col: _day(text, col, config.anchor))
    amount = parsed(row, DUE_AMOUNT, parse_amount)
    payment = _payment(row, loan_id, config)

    owner = rows.borrower_of.get(loan_id)
    if owner is not None and owner[0] != borrower_id:
        raise BadField(
            BORROWER,
            row[BORROWER],
            f"loan {loan_id} belongs to borrower {owner[0]} on line {owner[1]}; "
            "a loan has one borrower",
        )
    key = (loan_id, seq)
    earlier = rows.installments.get(key)
    if earlier is not None:
        line = rows.installment_line[key]
        for column, field_name, value in (
            (DUE_DAY, "due_on", due_on),
            (DUE_AMOUNT, "amount", amount),
        ):
            if earlier[field_name] != value:
                raise BadField(
                    column,
                    row[column],
                    f"installment {number} version {version} of loan {loan_id} "
                    f"has another {column} on line {line}; rows of one "
                    "installment must agree",
                )
    if payment is not None and payment["id"] in stored:
        _same_payment(payment, stored[payment["id"]], row)

    rows.borrower_of.setdefault(loan_id, (borrower_id, row.line))
    if earlier is None:
        rows.installments[key] = {"due_on": due_on, "amount": amount}
        rows.installment_line[key] = row.line
    if payment is not None:
        rows.payments.append(payment)
    rows.accepted.append((loan_id, seq, payment["id"] if payment else None))


def _payment(row: Row, loan_id: str, config: HomeCreditConfig) -> dict | None:
    if not row[PAID_DAY] and not row[PAID_AMOUNT]:
        return None
    for column, other in ((PAID_DAY, PAID_AMOUNT), (PAID_AMOUNT, PAID_DAY)):
        if not row[column]:
            raise BadField(
                column,
                "",
                f"{column} must not be empty when {other} is set: a payment "
                "has both, an unpaid installment neither",
            )
    return {
        "id": _payment_id(loan_id, row.line),
        "loan_id": loan_id,
        "paid_on": parsed(
            row, PAID_DAY, lambda text, col: _day(text, col, config.anchor)
        ),
        "amount": parsed(row, PAID_AMOUNT, parse_amount),
        "source": config.payment_source,
    }


def _same_payment(new: dict[str, Any], old: dict[str, Any], row: Row) -> None:
    columns = {"loan_id": LOAN, "paid_on": PAID_DAY, "amount": PAID_AMOUNT}
    for field_name in PAYMENT_FIELDS:
        if old[field_name] != new[field_name]:
            raise BadField(
                columns[field_name],
                row[columns[field_name]],
                f"payment {new['id']} is already recorded with {field_name} "
                f"{old[field_name]}; payments cannot be changed",
            )


def _payment_id(loan_id: str, line: int) -> str:
    return f"hc-{loan_id}-L{line}"


def _loan_id(text: str) -> str:
    # For looking payments up before rows are checked: a bad id finds nothing
    # and its row is rejected later anyway.
    try:
        return str(_identifier(text, LOAN))
    except InvalidValue:
        return text


def _identifier(text: str, column: str) -> int:
    reason = f"{column} must be a whole number like 2108382"
    number = parse_whole(text, column, reason)
    if number < 0:
        raise InvalidValue(reason)
    return number


def _version(text: str, column: str) -> int:
    reason = f"{column} must be a whole number from 0 to {MAX_VERSION}"
    version = parse_whole(text, column, reason)
    if not 0 <= version <= MAX_VERSION:
        raise InvalidValue(reason)
    return version


def _number(text: str, column: str) -> int:
    reason = f"{column} must be a whole number from 0 to {MAX_NUMBER}"
    number = parse_whole(text, column, reason)
    if not 0 <= number <= MAX_NUMBER:
        raise InvalidValue(reason)
    return number


def _day(text: str, column: str, anchor: date) -> date:
    reason = f"{column} must be a whole number of days like -725"
    days = parse_whole(text, column, reason)
    try:
        return anchor + timedelta(days=days)
    except OverflowError as exc:
        raise InvalidValue(
            f"{column} must be a number of days within the calendar"
        ) from exc


def _write(
    session: Session,
    rows: _Rows,
    config: HomeCreditConfig,
    report: ImportReport,
    name: str,
    stored: dict[str, dict[str, Any]],
) -> None:
    borrower_ids = sorted({b for b, _ in rows.borrower_of.values()}, key=int)
    guaranteed = sorted(
        (loan for loan in rows.borrower_of if config.guarantors.covers(int(loan))),
        key=int,
    )
    numbers = _SyntheticNumbers(len(borrower_ids) + len(guaranteed), report)

    borrowers = {b: _borrower(b) for b in borrower_ids}
    phones = {b: [numbers.take(i)] for i, b in enumerate(borrower_ids)}
    borrower_outcomes = sync_borrowers(session, borrowers, phones)
    _count(report, f"{name}: borrowers", borrower_outcomes.values())

    loans = {
        loan: _loan(loan, borrower_id, config)
        for loan, (borrower_id, _) in sorted(rows.borrower_of.items())
    }
    loan_outcomes = sync_loans(session, loans)
    _count(report, f"{name}: loans", loan_outcomes.values())

    start = len(borrower_ids)
    guarantors = {
        _guarantor_id(loan): _guarantor(loan, numbers.take(start + i))
        for i, loan in enumerate(guaranteed)
    }
    links = {(loan, _guarantor_id(loan)): _kind(loan, config) for loan in guaranteed}
    guarantor_outcomes = sync_guarantors(session, guarantors)
    link_outcomes = sync_loan_guarantors(session, links)
    guarantee_outcomes = {
        loan: _combined(guarantor_outcomes[g], link_outcomes[(loan, g)])
        for loan, g in links
    }
    _count(report, f"{name}: guarantors", guarantee_outcomes.values())

    installment_outcomes = sync_installments(session, rows.installments)
    _count(report, f"{name}: installments", installment_outcomes.values())

    new = [p for p in rows.payments if p["id"] not in stored]
    insert_payments(session, new)
    payment_outcomes = {p["id"]: "inserted" for p in new}
    _count(
        report,
        f"{name}: payments",
        (payment_outcomes.get(p["id"], "unchanged") for p in rows.payments),
    )

    # A row counts as inserted (or updated) when anything it carries was.
    file_counts = report.counts[name]
    for loan_id, seq, payment_id in rows.accepted:
        borrower_id = rows.borrower_of[loan_id][0]
        file_counts.add(
            _combined(
                borrower_outcomes[borrower_id],
                loan_outcomes[loan_id],
                guarantee_outcomes.get(loan_id, "unchanged"),
                installment_outcomes[(loan_id, seq)],
                payment_outcomes.get(payment_id or "", "unchanged"),
            )
        )


def _kind(loan_id: str, config: HomeCreditConfig) -> GuarantorKind:
    # Rotating by the id over the guaranteed loans only: with modulus 4 these
    # are 4, 8, 12, ..., so dividing first keeps all three kinds in turn.
    turn = int(loan_id) // max(config.guarantors.modulus, 1)
    return KIND_ROTATION[turn % len(KIND_ROTATION)]


def _combined(*outcomes: str) -> str:
    for outcome in ("inserted", "updated"):
        if outcome in outcomes:
            return outcome
    return "unchanged"


def _count(report: ImportReport, key: str, outcomes: Iterable[str]) -> None:
    counts = report.counts.setdefault(key, Counts())
    for outcome in outcomes:
        counts.read += 1
        counts.add(outcome)


def _borrower(borrower_id: str) -> dict[str, Any]:
    return {
        "name": f"样例客户 {borrower_id}（生成）",
        "address": f"（生成）样例路 {int(borrower_id) % 999 + 1} 号",
        "country": SYNTHETIC_COUNTRY,
        "synthetic": True,
    }


def _loan(loan_id: str, borrower_id: str, config: HomeCreditConfig) -> dict[str, Any]:
    number = int(loan_id)
    branch = config.branches[number % len(config.branches)]
    officer = branch.officers[(number // len(config.branches)) % len(branch.officers)]
    return {
        "borrower_id": borrower_id,
        "product": config.product,
        "principal": None,
        "currency": config.currency,
        "branch": branch.name,
        "officer": officer,
    }


def _guarantor_id(loan_id: str) -> str:
    return f"hc-{loan_id}-g"


def _guarantor(loan_id: str, number: PhoneNumber) -> dict[str, Any]:
    return {
        "name": f"样例担保人 {loan_id}（生成）",
        "phone": number.e164,
        "phone_line_type": number.line_type,
        "synthetic": True,
    }


class _SyntheticNumbers:
    """Fictional numbers by index: unique while the pool lasts, then repeating."""

    def __init__(self, needed: int, report: ImportReport) -> None:
        self.size = len(AREA_CODES) * NUMBERS_PER_AREA
        self.line_types: dict[int, str] = {}
        if needed > self.size:
            note = (
                f"{needed} generated contacts share {self.size} fictional numbers, "
                "so some numbers repeat"
            )
            report.notes.append(note)
            log.warning(note)

    def take(self, index: int) -> PhoneNumber:
        area, line = divmod(index % self.size, NUMBERS_PER_AREA)
        code = AREA_CODES[area]
        return PhoneNumber(f"+1{code}55501{line:02d}", self._line_type(code))

    def _line_type(self, code: int) -> str:
        # phonenumbers judges a NANP number by its area code and exchange, so
        # the first and last number of the block stand for all hundred; the
        # tests check every number handed out.
        if code not in self.line_types:
            types = set()
            for raw in (f"+1{code}5550100", f"+1{code}5550199"):
                try:
                    types.add(normalise(raw, SYNTHETIC_COUNTRY).line_type)
                except InvalidPhoneNumber as exc:
                    # Only a change of phonenumbers' metadata can get here.
                    raise DunningError(
                        f"fictional number {raw} is not valid with this "
                        f"phonenumbers release; drop area code {code} from "
                        "AREA_CODES"
                    ) from exc
            self.line_types[code] = types.pop() if len(types) == 1 else "other"
        return self.line_types[code]
