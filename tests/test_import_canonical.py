"""Importing canonical bundles into a real database, and the phone helpers."""

from __future__ import annotations

import csv
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dunning.db import engine_for, upgrade
from dunning.importing import ImportFileError, ImportReport, Reject, import_canonical
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
from dunning.phones import InvalidPhoneNumber, PhoneNumber, mask, normalise

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = FIXTURES / "canonical_good"
BAD = FIXTURES / "canonical_bad"


def run_import(url: str, directory: Path, out_dir: Path, progress=None) -> ImportReport:
    """Import and commit, as the command line does."""
    with Session(engine_for(url)) as session:
        report = import_canonical(session, directory, out_dir, progress)
        session.commit()
    return report


def copy_bundle(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def counts(report: ImportReport) -> dict[str, tuple[int, int, int, int, int]]:
    return {
        name: (c.read, c.inserted, c.updated, c.unchanged, c.rejected)
        for name, c in report.counts.items()
    }


class TestGoodBundle:
    def test_every_row_lands_with_normalised_values(
        self, db_url: str, tmp_path: Path
    ) -> None:
        report = run_import(db_url, GOOD, tmp_path / "out")

        assert counts(report) == {
            "borrowers.csv": (3, 3, 0, 0, 0),
            "loans.csv": (3, 3, 0, 0, 0),
            "guarantors.csv": (4, 4, 0, 0, 0),
            "installments.csv": (5, 5, 0, 0, 0),
            "payments.csv": (2, 2, 0, 0, 0),
        }
        assert report.rejects == []
        assert report.rejects_path is None
        assert not (tmp_path / "out" / "rejects.csv").exists()
        with Session(engine_for(db_url)) as session:
            phones = session.execute(
                select(
                    Phone.borrower_id, Phone.position, Phone.number, Phone.line_type
                ).order_by(Phone.borrower_id, Phone.position)
            ).all()
            assert [tuple(p) for p in phones] == [
                ("B1", 0, "+8613800138000", "mobile"),
                ("B1", 1, "+861012345678", "fixed_line"),
                ("B2", 0, "+8613900139000", "mobile"),
                # Read as dialled in the borrower's country, US.
                ("B3", 0, "+12015550123", "fixed_line_or_mobile"),
            ]
            b1 = session.get_one(Borrower, "B1")
            assert (b1.name, b1.address, b1.country, b1.synthetic) == (
                "张三",
                "北京市朝阳区样例街 1 号",
                "CN",
                False,
            )
            b2, b3 = session.get_one(Borrower, "B2"), session.get_one(Borrower, "B3")
            assert (b2.country, b2.synthetic) == ("CN", False)
            assert (b3.country, b3.synthetic) == ("US", True)

            loans = {loan.id: loan for loan in session.scalars(select(Loan))}
            assert loans["LN1"].principal == Decimal("100000.00")
            assert loans["LN2"].principal is None
            # 5000.005 rounds half-up to cents.
            assert loans["LN3"].principal == Decimal("5000.01")
            assert loans["LN3"].currency == "USD"
            assert (loans["LN1"].branch, loans["LN1"].officer) == ("城东支行", "赵一")

            links = session.execute(
                select(
                    LoanGuarantor.loan_id,
                    LoanGuarantor.guarantor_id,
                    LoanGuarantor.kind,
                )
            ).all()
            assert sorted(tuple(link) for link in links) == [
                ("LN1", "G1", GuarantorKind.GUARANTOR),
                ("LN1", "G2", GuarantorKind.JOINT_GUARANTOR),
                ("LN2", "G1", GuarantorKind.GUARANTOR),
                ("LN2", "G3", GuarantorKind.COUNTER_GUARANTOR),
            ]
            g1 = session.get_one(Guarantor, "G1")
            assert (g1.name, g1.phone, g1.phone_line_type) == (
                "王五",
                "+8613700137000",
                "mobile",
            )
            g2 = session.get_one(Guarantor, "G2")
            assert (g2.phone, g2.phone_line_type) == ("", "unknown")
            assert session.get_one(Guarantor, "G3").phone == "+862161234567"

            installments = session.execute(
                select(
                    Installment.loan_id,
                    Installment.seq,
                    Installment.due_on,
                    Installment.amount,
                )
            ).all()
            assert sorted(tuple(i) for i in installments) == [
                ("LN1", 1, date(2026, 10, 15), Decimal("8792.50")),
                ("LN1", 2, date(2026, 11, 15), Decimal("8792.50")),
                ("LN2", 1, date(2026, 11, 20), Decimal("1000.00")),
                # A zero installment is allowed: a grace period.
                ("LN3", 1, date(2026, 11, 1), Decimal("0.00")),
                ("LN3", 2, date(2026, 12, 1), Decimal("2500.56")),
            ]
            payments = session.execute(
                select(Payment.id, Payment.loan_id, Payment.paid_on, Payment.amount)
            ).all()
            assert sorted(tuple(p) for p in payments) == [
                ("P1", "LN1", date(2026, 10, 14), Decimal("8792.50")),
                ("P2", "LN2", date(2026, 11, 25), Decimal("400.00")),
            ]

    def test_importing_again_changes_nothing(
        self, db_url: str, tmp_path: Path, db_snapshot, db_writes
    ) -> None:
        run_import(db_url, GOOD, tmp_path / "out")
        before = db_snapshot(db_url)

        with db_writes(db_url) as writes:
            report = run_import(db_url, GOOD, tmp_path / "out")

        assert writes == []
        assert db_snapshot(db_url) == before
        assert not report.changed
        assert counts(report) == {
            "borrowers.csv": (3, 0, 0, 3, 0),
            "loans.csv": (3, 0, 0, 3, 0),
            "guarantors.csv": (4, 0, 0, 4, 0),
            "installments.csv": (5, 0, 0, 5, 0),
            "payments.csv": (2, 0, 0, 2, 0),
        }

    def test_progress_is_reported_up_to_the_total(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        calls: list[tuple[int, int]] = []

        run_import(sqlite_url, GOOD, tmp_path / "out", lambda *c: calls.append(c))

        assert calls[-1] == (17, 17)


BAD_ROWS = [
    Reject(
        "borrowers.csv",
        3,
        "phone",
        "******3800",
        "phone must hold valid phone numbers for country CN, several separated by ;",
    ),
    Reject("borrowers.csv", 4, "borrower_id", "", "borrower_id must not be empty"),
    Reject(
        "borrowers.csv",
        5,
        "borrower_id",
        "B1",
        "duplicate of line 2; each borrower_id may appear only once",
    ),
    Reject(
        "loans.csv",
        3,
        "borrower_id",
        "B2",
        "borrower B2 was rejected in borrowers.csv (line 3) and is not in the database",
    ),
    Reject(
        "loans.csv",
        4,
        "borrower_id",
        "B9",
        "borrower B9 is not in borrowers.csv nor in the database",
    ),
    Reject(
        "loans.csv",
        5,
        "principal",
        "12x",
        "principal must be empty or a non-negative decimal like 1234.56",
    ),
    Reject(
        "guarantors.csv",
        2,
        "kind",
        "friend",
        "kind must be one of guarantor, joint_guarantor, counter_guarantor"
        " (or 担保人, 联保人, 反担保人)",
    ),
    Reject("guarantors.csv", 4, "", "", "row has 3 fields but the header has 5"),
    Reject(
        "installments.csv",
        3,
        "due_on",
        "2026/11/15",
        "due_on must be an ISO 8601 date YYYY-MM-DD",
    ),
    Reject(
        "installments.csv",
        4,
        "amount",
        "abc",
        "amount must be a non-negative decimal like 1234.56",
    ),
    Reject(
        "installments.csv",
        5,
        "amount",
        "-5.00",
        "amount must be a non-negative decimal like 1234.56",
    ),
    Reject(
        "installments.csv",
        6,
        "loan_id",
        "LN9",
        "loan LN9 is not in loans.csv nor in the database",
    ),
    Reject(
        "installments.csv",
        7,
        "seq",
        "1",
        "duplicate of line 2; each (loan_id, seq) may appear only once",
    ),
    Reject(
        "payments.csv",
        3,
        "amount",
        "0",
        "amount must be a positive decimal like 1234.56",
    ),
    Reject("payments.csv", 4, "payment_id", "", "payment_id must not be empty"),
    Reject(
        "payments.csv",
        5,
        "payment_id",
        "P1",
        "duplicate of line 2; each payment_id may appear only once",
    ),
    Reject(
        "payments.csv",
        6,
        "loan_id",
        "LN2",
        "loan LN2 was rejected in loans.csv (line 3) and is not in the database",
    ),
]


class TestBadRows:
    def test_each_reject_names_file_line_column_value_and_reason(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        report = run_import(sqlite_url, BAD, tmp_path / "out")

        assert report.rejects == BAD_ROWS
        assert counts(report) == {
            "borrowers.csv": (4, 1, 0, 0, 3),
            "loans.csv": (4, 1, 0, 0, 3),
            "guarantors.csv": (3, 1, 0, 0, 2),
            "installments.csv": (7, 2, 0, 0, 5),
            "payments.csv": (5, 1, 0, 0, 4),
        }

    def test_rejects_csv_holds_the_same_rows(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        report = run_import(sqlite_url, BAD, tmp_path / "out")

        assert report.rejects_path == tmp_path / "out" / "rejects.csv"
        with report.rejects_path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["file", "line", "column", "value", "reason"]
        assert rows[1:] == [
            [r.file, str(r.line), r.column, r.value, r.reason] for r in BAD_ROWS
        ]

    def test_every_good_row_beside_the_rejects_still_lands(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        run_import(sqlite_url, BAD, tmp_path / "out")

        with Session(engine_for(sqlite_url)) as session:
            assert session.scalars(select(Borrower.id)).all() == ["B1"]
            assert session.get_one(Borrower, "B1").name == "张三"
            assert session.scalars(select(Loan.id)).all() == ["LN1"]
            # Without a currency column loans are in CNY.
            assert session.get_one(Loan, "LN1").currency == "CNY"
            assert session.scalars(select(Guarantor.id)).all() == ["G2"]
            seqs = session.scalars(select(Installment.seq).order_by(Installment.seq))
            assert seqs.all() == [1, 5]
            assert session.get_one(Installment, 1).due_on == date(2026, 10, 15)
            assert session.scalars(select(Payment.id)).all() == ["P1"]

    def test_a_value_longer_than_the_store_keeps_is_rejected(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        bundle = copy_bundle(GOOD, tmp_path / "bundle")
        product = "经营贷" * 22
        rewrite(bundle / "loans.csv", "LN1,B1,经营贷,", f"LN1,B1,{product},")

        report = run_import(sqlite_url, bundle, tmp_path / "out")

        assert report.rejects[0] == Reject(
            "loans.csv",
            2,
            "product",
            product,
            "product must be at most 64 characters long",
        )

    def test_a_phone_is_never_shown_in_full(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        report = run_import(sqlite_url, BAD, tmp_path / "out")

        assert report.rejects_path is not None
        shown = "\n".join(
            [report.rejects_path.read_text(encoding="utf-8"), *report.summary_lines()]
        )
        assert "1380013800" not in shown
        assert "******3800" in shown

    def test_a_stale_rejects_file_is_removed_by_a_clean_import(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        other_url = f"sqlite:///{tmp_path / 'other.db'}"
        upgrade(other_url)
        run_import(other_url, BAD, tmp_path / "out")

        report = run_import(sqlite_url, GOOD, tmp_path / "out")

        assert report.rejects_path is None
        assert not (tmp_path / "out" / "rejects.csv").exists()


class TestChanges:
    def test_changed_fields_are_updated_and_counted(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        run_import(sqlite_url, GOOD, tmp_path / "out")
        bundle = copy_bundle(GOOD, tmp_path / "bundle")
        rewrite(bundle / "borrowers.csv", "李四", "李四娘")
        # B1 drops its landline and adds a second mobile before the first.
        rewrite(
            bundle / "borrowers.csv",
            "13800138000;010 1234 5678",
            "13800138001;13800138000",
        )
        rewrite(
            bundle / "loans.csv",
            "LN2,B2,消费贷,,CNY,城西支行,钱二",
            "LN2,B2,消费贷,,CNY,城西支行,孙三",
        )
        rewrite(bundle / "guarantors.csv", "G2,LN1,联保人", "G2,LN1,反担保人")
        rewrite(
            bundle / "installments.csv",
            "LN1,2,2026-11-15,8792.50",
            "LN1,2,2026-11-16,8792.51",
        )

        report = run_import(sqlite_url, bundle, tmp_path / "out")

        assert counts(report) == {
            "borrowers.csv": (3, 0, 2, 1, 0),
            "loans.csv": (3, 0, 1, 2, 0),
            "guarantors.csv": (4, 0, 1, 3, 0),
            "installments.csv": (5, 0, 1, 4, 0),
            "payments.csv": (2, 0, 0, 2, 0),
        }
        with Session(engine_for(sqlite_url)) as session:
            assert session.get_one(Borrower, "B2").name == "李四娘"
            b1 = session.scalars(
                select(Phone.number)
                .where(Phone.borrower_id == "B1")
                .order_by(Phone.position)
            )
            assert b1.all() == ["+8613800138001", "+8613800138000"]
            assert session.get_one(Loan, "LN2").officer == "孙三"
            kind = session.scalar(
                select(LoanGuarantor.kind).where(LoanGuarantor.guarantor_id == "G2")
            )
            assert kind == GuarantorKind.COUNTER_GUARANTOR
            installment = session.scalars(
                select(Installment).where(
                    Installment.loan_id == "LN1", Installment.seq == 2
                )
            ).one()
            assert (installment.due_on, installment.amount) == (
                date(2026, 11, 16),
                Decimal("8792.51"),
            )

    def test_a_number_a_channel_marked_is_kept_when_no_longer_listed(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        run_import(sqlite_url, GOOD, tmp_path / "out")
        with Session(engine_for(sqlite_url)) as session:
            phone = session.scalars(
                select(Phone).where(Phone.number == "+8613800138000")
            ).one()
            phone.status = "opted_out"
            session.commit()
        bundle = copy_bundle(GOOD, tmp_path / "bundle")
        rewrite(bundle / "borrowers.csv", "13800138000;010 1234 5678", "13800138001")

        run_import(sqlite_url, bundle, tmp_path / "out")

        with Session(engine_for(sqlite_url)) as session:
            rows = session.execute(
                select(Phone.number, Phone.position, Phone.status)
                .where(Phone.borrower_id == "B1")
                .order_by(Phone.position)
            ).all()
        # The landline (status ok) is gone; the opt-out is remembered after it.
        assert [tuple(r) for r in rows] == [
            ("+8613800138001", 0, "ok"),
            ("+8613800138000", 1, "opted_out"),
        ]

    def test_a_stored_payment_with_another_amount_is_rejected(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        run_import(sqlite_url, GOOD, tmp_path / "out")
        bundle = copy_bundle(GOOD, tmp_path / "bundle")
        rewrite(
            bundle / "payments.csv",
            "P1,LN1,2026-10-14,8792.50",
            "P1,LN1,2026-10-14,8792.00",
        )

        report = run_import(sqlite_url, bundle, tmp_path / "out")

        assert report.rejects == [
            Reject(
                "payments.csv",
                2,
                "amount",
                "8792.00",
                "payment P1 is already recorded with amount 8792.50; payments cannot"
                " be changed, so record a correction under a new payment_id",
            )
        ]
        with Session(engine_for(sqlite_url)) as session:
            assert session.get_one(Payment, "P1").amount == Decimal("8792.50")

    def test_rows_may_refer_to_records_already_in_the_database(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        run_import(sqlite_url, GOOD, tmp_path / "out")
        bundle = tmp_path / "later"
        bundle.mkdir()
        (bundle / "loans.csv").write_text(
            "loan_id,borrower_id,product,principal,branch,officer\n"
            "LN4,B1,经营贷,2000,城东支行,赵一\n",
            encoding="utf-8",
        )
        (bundle / "payments.csv").write_text(
            "payment_id,loan_id,paid_on,amount\nP3,LN1,2026-11-14,100\nP4,LN4,2026-11-15,5\n",
            encoding="utf-8",
        )

        report = run_import(sqlite_url, bundle, tmp_path / "out")

        assert report.rejects == []
        assert counts(report)["payments.csv"] == (2, 2, 0, 0, 0)
        with Session(engine_for(sqlite_url)) as session:
            assert session.scalar(select(func.count()).select_from(Payment)) == 4


class TestUnusableFiles:
    def test_a_bundle_without_loans_csv_is_refused(
        self, sqlite_url: str, tmp_path: Path, db_snapshot
    ) -> None:
        bundle = copy_bundle(GOOD, tmp_path / "bundle")
        (bundle / "loans.csv").unlink()

        with pytest.raises(ImportFileError, match=r"loans\.csv not found"):
            run_import(sqlite_url, bundle, tmp_path / "out")

        assert db_snapshot(sqlite_url)["borrowers"] == []

    def test_a_missing_column_is_named_with_its_file(
        self, sqlite_url: str, tmp_path: Path, db_snapshot
    ) -> None:
        bundle = copy_bundle(GOOD, tmp_path / "bundle")
        rewrite(
            bundle / "installments.csv",
            "loan_id,seq,due_on,amount",
            "loan_id,seq,due,amount",
        )

        with pytest.raises(ImportFileError) as raised:
            run_import(sqlite_url, bundle, tmp_path / "out")

        assert str(raised.value) == (
            "installments.csv has no column 'due_on'; expected columns: "
            "loan_id, seq, due_on, amount"
        )
        # The check runs before anything is written.
        assert db_snapshot(sqlite_url)["borrowers"] == []

    def test_a_missing_folder_is_refused(self, sqlite_url: str, tmp_path: Path) -> None:
        with pytest.raises(ImportFileError, match="does not exist"):
            run_import(sqlite_url, tmp_path / "nowhere", tmp_path / "out")


class TestPhones:
    def test_numbers_become_e164_with_their_line_type(self) -> None:
        assert normalise("138 0013 8000") == PhoneNumber("+8613800138000", "mobile")
        assert normalise("010-1234-5678") == PhoneNumber("+861012345678", "fixed_line")
        assert normalise("800 810 8888") == PhoneNumber("+868008108888", "toll_free")
        # Shared-cost 400 numbers are none of the kinds a channel cares about.
        assert normalise("400 123 4567") == PhoneNumber("+864001234567", "other")
        assert normalise("(201) 555-0123", "US") == PhoneNumber(
            "+12015550123", "fixed_line_or_mobile"
        )

    @pytest.mark.parametrize("raw", ["1380013800", "abcdefgh", "+999 1380013800"])
    def test_a_bad_number_raises_a_value_error_with_the_value_masked(
        self, raw: str
    ) -> None:
        with pytest.raises(ValueError) as raised:
            normalise(raw)

        assert isinstance(raised.value, InvalidPhoneNumber)
        assert raw not in str(raised.value)
        assert mask(raw) in str(raised.value)

    def test_mask_keeps_the_last_four_characters(self) -> None:
        assert mask("13800138000") == "*******8000"
        assert mask("+8613800138000") == "**********8000"
        assert mask("123") == "***"
