"""Importing the Home Credit installments sample, and a small hand-written file."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import phonenumbers
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dunning.db import engine_for, upgrade
from dunning.errors import ConfigError
from dunning.importing import (
    HomeCreditConfig,
    ImportFileError,
    ImportReport,
    Reject,
    import_home_credit,
)
from dunning.importing.home_credit import AREA_CODES
from dunning.models import (
    Borrower,
    Guarantor,
    GuarantorKind,
    Installment,
    Loan,
    LoanGuarantor,
    Payment,
    Phone,
)
from dunning.settings import Settings

SMALL = Path(__file__).parent / "fixtures" / "home_credit" / "installments_payments.csv"
SAMPLE = Settings().data_dir / "home_credit_sample" / "installments_payments.csv"
FILE = "installments_payments.csv"
FICTIONAL = re.compile(r"\+1\d{3}55501\d{2}")


def run_import(
    url: str,
    path: Path,
    out_dir: Path,
    config: HomeCreditConfig | None = None,
    progress=None,
) -> ImportReport:
    with Session(engine_for(url)) as session:
        report = import_home_credit(session, path, out_dir, config, progress)
        session.commit()
    return report


def counts(report: ImportReport) -> dict[str, tuple[int, int, int, int, int]]:
    return {
        name: (c.read, c.inserted, c.updated, c.unchanged, c.rejected)
        for name, c in report.counts.items()
    }


def count(url: str, model: type) -> int:
    with Session(engine_for(url)) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


class Sample(NamedTuple):
    url: str
    report: ImportReport
    progress: list[tuple[int, int]]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """The real sample imported once into a fresh database."""
    if not SAMPLE.exists():
        pytest.skip(f"the Home Credit sample is not at {SAMPLE}")
    folder = tmp_path_factory.mktemp("home_credit")
    url = f"sqlite:///{folder / 'dunning.db'}"
    upgrade(url)
    calls: list[tuple[int, int]] = []
    report = run_import(
        url, SAMPLE, folder / "out", progress=lambda *c: calls.append(c)
    )
    return Sample(url, report, calls)


class TestRealSample:
    def test_every_row_lands(self, sample: Sample) -> None:
        url, report = sample.url, sample.report

        assert report.rejects == []
        assert count(url, Loan) == 16651
        assert count(url, Borrower) == 13181
        assert count(url, Phone) == 13181
        # 20,000 rows, 17 of them a second payment entry of an installment.
        assert count(url, Installment) == 20000 - 17
        # All rows but the 4 with empty payment fields.
        assert count(url, Payment) == 19996
        # Loans with id divisible by 4 get a generated guarantor.
        assert count(url, Guarantor) == 4095
        assert count(url, LoanGuarantor) == 4095
        assert counts(report) == {
            FILE: (20000, 20000, 0, 0, 0),
            f"{FILE}: borrowers": (13181, 13181, 0, 0, 0),
            f"{FILE}: loans": (16651, 16651, 0, 0, 0),
            f"{FILE}: guarantors": (4095, 4095, 0, 0, 0),
            f"{FILE}: installments": (19983, 19983, 0, 0, 0),
            f"{FILE}: payments": (19996, 19996, 0, 0, 0),
        }
        assert sample.progress == [(n, 20000) for n in range(1000, 20001, 1000)]

    def test_a_loan_matches_its_rows(self, sample: Sample) -> None:
        url = sample.url
        # Lines 692 and 10521 of the file, the same installment paid twice:
        # 2758924,295095,1.0,12,-2074.0,-2093.0,5202.945,0.99
        # 2758924,295095,1.0,12,-2074.0,-2058.0,5202.945,5201.955
        # -2191 days from 2026-12-01 is 2020-12-01 (730 days back to 2024-12-01,
        # then 366, 365 and 365), so -2074 is 2020-12-01 + 117 days: 31 + 31 +
        # 28 to 2021-03-01, plus 27 = 2021-03-28. -2093 is 2021-03-01 + 8 =
        # 2021-03-09; -2058 is 2021-04-01 (+121) + 12 = 2021-04-13.
        with Session(engine_for(url)) as session:
            loan = session.get_one(Loan, "2758924")
            assert loan.borrower_id == "295095"
            assert (loan.product, loan.currency, loan.principal) == (
                "home-credit-pos",
                "CNY",
                None,
            )
            # seq = NUMBER * 100 + VERSION; 5202.945 rounds half-up.
            assert [(i.seq, i.due_on, i.amount) for i in loan.installments] == [
                (1201, date(2021, 3, 28), Decimal("5202.95"))
            ]
            assert [(p.id, p.paid_on, p.amount) for p in loan.payments] == [
                ("hc-2758924-L692", date(2021, 3, 9), Decimal("0.99")),
                ("hc-2758924-L10521", date(2021, 4, 13), Decimal("5201.96")),
            ]
            assert {p.source for p in loan.payments} == {"home_credit"}

            # Line 2: 2108382,453101,1.0,11,-725.0,-748.0,33952.005,2492.145
            # -725 days from 2026-12-01: -730 is 2024-12-01, +5 = 2024-12-06;
            # -748 is 2024-12-01 - 18 = 2024-11-13.
            loan = session.get_one(Loan, "2108382")
            assert loan.borrower_id == "453101"
            assert [(i.seq, i.due_on, i.amount) for i in loan.installments] == [
                (1101, date(2024, 12, 6), Decimal("33952.01"))
            ]
            assert [(p.id, p.paid_on, p.amount) for p in loan.payments] == [
                ("hc-2108382-L2", date(2024, 11, 13), Decimal("2492.15"))
            ]

    def test_rows_without_payment_give_an_installment_only(
        self, sample: Sample
    ) -> None:
        url = sample.url
        # Line 6872: 1391295,183580,12.0,10,-247.0,,99.045,
        # -247 days from 2026-12-01: back to 2026-04-01 is 30 + 31 + 30 + 31 +
        # 31 + 30 + 31 + 30 = 244 days, 3 more is 2026-03-29.
        with Session(engine_for(url)) as session:
            loan = session.get_one(Loan, "1391295")
            assert [(i.seq, i.due_on, i.amount) for i in loan.installments] == [
                (1012, date(2026, 3, 29), Decimal("99.05"))
            ]
            assert loan.payments == []
            # Three rows of the sample record a payment of 0.0: kept as entries.
            zero = session.scalar(
                select(func.count()).select_from(Payment).where(Payment.amount == 0)
            )
            assert zero == 3

    def test_generated_contacts_are_fictional_valid_unique_and_marked(
        self, sample: Sample
    ) -> None:
        url = sample.url
        with Session(engine_for(url)) as session:
            borrower_numbers = session.scalars(select(Phone.number)).all()
            guarantor_numbers = session.scalars(select(Guarantor.phone)).all()
            borrowers = session.scalars(select(Borrower)).all()
            guarantors = session.scalars(select(Guarantor)).all()

        numbers = [*borrower_numbers, *guarantor_numbers]
        assert len(set(numbers)) == len(numbers) == 13181 + 4095
        for number in numbers:
            assert FICTIONAL.fullmatch(number), number
            assert phonenumbers.is_valid_number(phonenumbers.parse(number))
        assert all(b.synthetic and "生成" in b.name for b in borrowers)
        assert all(b.country == "US" and "生成" in b.address for b in borrowers)
        assert all(g.synthetic and "生成" in g.name for g in guarantors)
        b = next(b for b in borrowers if b.id == "453101")
        assert b.name == "样例客户 453101（生成）"

    def test_guarantor_kinds_rotate_over_loans_with_id_divisible_by_four(
        self, sample: Sample
    ) -> None:
        url = sample.url
        with Session(engine_for(url)) as session:
            links = session.execute(
                select(LoanGuarantor.loan_id, LoanGuarantor.kind)
            ).all()

        assert all(int(loan) % 4 == 0 for loan, _ in links)
        kinds = {kind for _, kind in links}
        assert kinds == set(GuarantorKind)
        # In the order of GuarantorKind: guarantor, joint, counter.
        assert all(
            kind == list(GuarantorKind)[int(loan) // 4 % 3] for loan, kind in links
        )

    def test_importing_again_changes_nothing(
        self, sample: Sample, tmp_path: Path, db_snapshot, db_writes
    ) -> None:
        url = sample.url
        before = db_snapshot(url)

        with db_writes(url) as writes:
            report = run_import(url, SAMPLE, tmp_path / "out")

        assert writes == []
        assert db_snapshot(url) == before
        assert not report.changed
        assert counts(report)[FILE] == (20000, 0, 0, 20000, 0)


class TestSmallFile:
    def test_bad_rows_are_rejected_and_good_ones_land(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        report = run_import(sqlite_url, SMALL, tmp_path / "out")

        assert report.rejects == [
            Reject(
                FILE,
                7,
                "SK_ID_PREV",
                "x123",
                "SK_ID_PREV must be a whole number like 2108382",
            ),
            Reject(FILE, 8, "SK_ID_CURR", "", "SK_ID_CURR must not be empty"),
            Reject(
                FILE,
                9,
                "DAYS_INSTALMENT",
                "-5.5",
                "DAYS_INSTALMENT must be a whole number of days like -725",
            ),
            Reject(
                FILE,
                10,
                "AMT_INSTALMENT",
                "ten",
                "AMT_INSTALMENT must be a non-negative decimal like 1234.56",
            ),
            Reject(
                FILE,
                11,
                "AMT_PAYMENT",
                "",
                "AMT_PAYMENT must not be empty when DAYS_ENTRY_PAYMENT is set: a"
                " payment has both, an unpaid installment neither",
            ),
            Reject(
                FILE,
                12,
                "AMT_PAYMENT",
                "-1.0",
                "AMT_PAYMENT must be a non-negative decimal like 1234.56",
            ),
            Reject(
                FILE,
                13,
                "SK_ID_CURR",
                "100009",
                "loan 1000005 belongs to borrower 100002 on line 4; a loan has one"
                " borrower",
            ),
            Reject(
                FILE,
                14,
                "DAYS_INSTALMENT",
                "-11.0",
                "installment 1 version 0 of loan 1000005 has another DAYS_INSTALMENT"
                " on line 4; rows of one installment must agree",
            ),
            Reject(
                FILE,
                15,
                "NUM_INSTALMENT_VERSION",
                "150.0",
                "NUM_INSTALMENT_VERSION must be a whole number from 0 to 99",
            ),
        ]
        assert report.rejects_path is not None
        assert len(report.rejects_path.read_text(encoding="utf-8").splitlines()) == 10
        assert counts(report)[FILE] == (14, 5, 0, 0, 9)
        with Session(engine_for(sqlite_url)) as session:
            installments = session.execute(
                select(
                    Installment.loan_id,
                    Installment.seq,
                    Installment.due_on,
                    Installment.amount,
                )
            ).all()
            payments = session.execute(
                select(Payment.id, Payment.paid_on, Payment.amount)
            ).all()
            links = session.execute(
                select(LoanGuarantor.loan_id, LoanGuarantor.kind)
            ).all()
        assert sorted(tuple(i) for i in installments) == [
            ("1000004", 101, date(2026, 11, 1), Decimal("1000.01")),
            ("1000004", 201, date(2026, 11, 30), Decimal("1000.00")),
            ("1000005", 100, date(2026, 11, 21), Decimal("500.00")),
            ("1000006", 302, date(2026, 12, 1), Decimal("99.99")),
        ]
        assert sorted(tuple(p) for p in payments) == [
            ("hc-1000004-L2", date(2026, 10, 31), Decimal("1000.01")),
            ("hc-1000005-L4", date(2026, 11, 26), Decimal("250.00")),
            ("hc-1000005-L5", date(2026, 11, 28), Decimal("250.00")),
            ("hc-1000006-L6", date(2026, 12, 1), Decimal("0.00")),
        ]
        # 1000004 // 4 = 250001, and 250001 % 3 = 2: the third kind.
        assert [tuple(link) for link in links] == [
            ("1000004", GuarantorKind.COUNTER_GUARANTOR)
        ]

    def test_the_anchor_moves_every_date(self, db_url: str, tmp_path: Path) -> None:
        default_url = f"sqlite:///{tmp_path / 'default.db'}"
        upgrade(default_url)
        config = HomeCreditConfig(anchor=date(2027, 1, 1))

        run_import(db_url, SMALL, tmp_path / "moved", config)
        run_import(default_url, SMALL, tmp_path / "default")

        def dates(url: str) -> list[date]:
            with Session(engine_for(url)) as session:
                due = session.scalars(
                    select(Installment.due_on).order_by(
                        Installment.loan_id, Installment.seq
                    )
                )
                paid = session.scalars(select(Payment.paid_on).order_by(Payment.id))
                return [*due, *paid]

        # 2027-01-01 is 31 days after 2026-12-01.
        assert dates(db_url) == [d + timedelta(days=31) for d in dates(default_url)]
        with Session(engine_for(db_url)) as session:
            first = session.scalars(
                select(Installment).where(Installment.seq == 101)
            ).one()
        # DAYS_INSTALMENT -30 from 2027-01-01.
        assert first.due_on == date(2026, 12, 2)

    def test_importing_again_changes_nothing(
        self, db_url: str, tmp_path: Path, db_snapshot, db_writes
    ) -> None:
        run_import(db_url, SMALL, tmp_path / "out")
        before = db_snapshot(db_url)

        with db_writes(db_url) as writes:
            report = run_import(db_url, SMALL, tmp_path / "out")

        assert writes == []
        assert db_snapshot(db_url) == before
        assert not report.changed

    def test_settings_change_generated_fields_as_updates(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        run_import(sqlite_url, SMALL, tmp_path / "out")
        config = HomeCreditConfig(product="pos-loan", currency="EUR")

        report = run_import(sqlite_url, SMALL, tmp_path / "out", config)

        assert counts(report)[f"{FILE}: loans"] == (3, 0, 3, 0, 0)
        with Session(engine_for(sqlite_url)) as session:
            loan = session.get_one(Loan, "1000004")
        assert (loan.product, loan.currency) == ("pos-loan", "EUR")

    def test_progress_is_reported_up_to_the_total(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        calls: list[tuple[int, int]] = []

        run_import(
            sqlite_url, SMALL, tmp_path / "out", progress=lambda *c: calls.append(c)
        )

        assert calls == [(14, 14)]

    def test_a_missing_column_is_named(self, sqlite_url: str, tmp_path: Path) -> None:
        path = tmp_path / FILE
        lines = SMALL.read_text(encoding="utf-8").splitlines()
        path.write_text(
            "\n".join([lines[0].replace(",AMT_PAYMENT", ""), *lines[1:3]]),
            encoding="utf-8",
        )

        with pytest.raises(
            ImportFileError, match=f"{FILE} has no column 'AMT_PAYMENT'"
        ):
            run_import(sqlite_url, path, tmp_path / "out")


class TestConfig:
    def test_the_shipped_file_holds_the_defaults(self) -> None:
        assert HomeCreditConfig.load(Settings().adapters_path) == HomeCreditConfig()

    def test_a_bad_value_is_refused_naming_it(self, tmp_path: Path) -> None:
        path = tmp_path / "adapters.yaml"
        path.write_text("home_credit:\n  currency: yuan\n", encoding="utf-8")

        with pytest.raises(ConfigError, match=r"home_credit\.currency"):
            HomeCreditConfig.load(path)

    def test_the_pool_of_fictional_numbers_is_all_valid(self) -> None:
        for code in AREA_CODES:
            for line in range(100):
                number = phonenumbers.parse(f"+1{code}55501{line:02d}")
                assert phonenumbers.is_valid_number(number), number
