"""Import rows that once slipped through: each is rejected, the rest lands."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from dunning.db import unit_of_work
from dunning.importing import import_canonical
from dunning.models import Borrower, Guarantor, Installment, Loan


def bundle(folder: Path, **files: list[str]) -> Path:
    folder.mkdir()
    for name, lines in files.items():
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


LOANS = "loan_id,borrower_id,product,principal,currency,branch,officer"


def rejects_of(report) -> list[tuple[str, int, str, str]]:
    return [(r.file, r.line, r.column, r.value) for r in report.rejects]


def test_a_bad_flag_rejects_the_borrower_and_its_loan_but_not_the_others(
    sqlite_url, tmp_path
):
    folder = bundle(
        tmp_path / "b",
        borrowers=[
            "borrower_id,name,phone,address,country,synthetic",
            "B1,甲,13800138000,addr,CN,false",
            "B2,乙,13800138001,addr,CN,maybe",
        ],
        loans=[LOANS, "L1,B1,p,100,CNY,br,of", "L2,B2,p,100,CNY,br,of"],
    )
    with unit_of_work(sqlite_url) as session:
        report = import_canonical(session, folder, tmp_path / "out")

    assert ("borrowers.csv", 3, "synthetic", "maybe") in rejects_of(report)
    assert [r.line for r in report.rejects if r.file == "loans.csv"] == [3]
    with unit_of_work(sqlite_url) as session:
        assert list(session.scalars(select(Borrower.id))) == ["B1"]
        assert list(session.scalars(select(Loan.id))) == ["L1"]


def test_a_guarantor_with_two_numbers_is_rejected_not_cut_short(sqlite_url, tmp_path):
    folder = bundle(
        tmp_path / "b",
        borrowers=["borrower_id,name,phone,address", "B1,甲,13800138000,addr"],
        loans=[LOANS, "L1,B1,p,100,CNY,br,of"],
        guarantors=[
            "guarantor_id,loan_id,kind,name,phone",
            "G1,L1,guarantor,王,13700137000;13600136000",
            "G2,L1,guarantor,李,13700137001",
        ],
    )
    with unit_of_work(sqlite_url) as session:
        report = import_canonical(session, folder, tmp_path / "out")

    [reject] = report.rejects
    assert (reject.file, reject.line, reject.column) == ("guarantors.csv", 2, "phone")
    assert "must hold one valid phone number" in reject.reason
    assert "13700137000" not in reject.value and "13600136000" not in reject.value
    with unit_of_work(sqlite_url) as session:
        assert list(session.scalars(select(Guarantor.id))) == ["G2"]


def test_an_amount_too_large_to_keep_exact_is_rejected(sqlite_url, tmp_path):
    folder = bundle(
        tmp_path / "b",
        borrowers=["borrower_id,name,phone,address", "B1,甲,13800138000,addr"],
        loans=[LOANS, "L1,B1,p,100,CNY,br,of"],
        installments=[
            "loan_id,seq,due_on,amount",
            "L1,1,2026-11-01,9999999999999.99",
            "L1,2,2026-12-01,999999999999.99",
        ],
    )
    with unit_of_work(sqlite_url) as session:
        report = import_canonical(session, folder, tmp_path / "out")
        again = import_canonical(session, folder, tmp_path / "out2")

    assert rejects_of(report) == [("installments.csv", 2, "amount", "9999999999999.99")]
    assert "12 digits" in report.rejects[0].reason
    with unit_of_work(sqlite_url) as session:
        amounts = [str(a) for a in session.scalars(select(Installment.amount))]
    assert amounts == ["999999999999.99"]
    # Kept exact, so importing it again finds it unchanged.
    assert again.counts["installments.csv"].unchanged == 1


def test_only_ascii_digits_make_an_amount_and_minus_zero_is_zero():
    import pytest

    from dunning.importing.common import InvalidValue, parse_amount

    with pytest.raises(InvalidValue):
        parse_amount("１２３", "amount")
    assert str(parse_amount("-0", "amount")) == "0.00"
