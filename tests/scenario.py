"""A small portfolio built by hand, and the daily run's steps without Prefect."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from dunning import daily
from dunning.db import unit_of_work
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

DUE = date(2026, 10, 31)


def add_loan(
    url: str,
    loan_id: str = "LN1",
    amounts: tuple[str, ...] = ("1000.00",),
    first_due: date = DUE,
    guarantor: bool = True,
    name: str = "测试客户（生成）",
) -> None:
    """A loan with monthly installments from ``first_due`` and one guarantor."""
    with unit_of_work(url) as session:
        borrower = Borrower(
            id=f"B-{loan_id}", name=name, address="（生成）测试路1号", synthetic=True
        )
        session.add(borrower)
        session.add(
            Phone(
                borrower_id=borrower.id,
                number="+12125550101",
                line_type="fixed_line_or_mobile",
            )
        )
        session.add(
            Loan(
                id=loan_id,
                borrower_id=borrower.id,
                product="micro-business",
                principal=Decimal("12000.00"),
                currency="CNY",
                branch="测试支行",
                officer="信贷员甲",
            )
        )
        session.flush()
        for seq, amount in enumerate(amounts, start=1):
            session.add(
                Installment(
                    loan_id=loan_id,
                    seq=seq,
                    due_on=first_due + timedelta(days=30 * (seq - 1)),
                    amount=Decimal(amount),
                )
            )
        if guarantor:
            session.add(
                Guarantor(
                    id=f"G-{loan_id}",
                    name="测试担保人（生成）",
                    phone="+12125550102",
                    phone_line_type="fixed_line_or_mobile",
                )
            )
            session.flush()
            session.add(
                LoanGuarantor(
                    loan_id=loan_id,
                    guarantor_id=f"G-{loan_id}",
                    kind=GuarantorKind.GUARANTOR,
                )
            )


def pay(url: str, loan_id: str, amount: str, on: date, payment_id: str) -> None:
    with unit_of_work(url) as session:
        session.add(
            Payment(id=payment_id, loan_id=loan_id, paid_on=on, amount=Decimal(amount))
        )


def run_day(settings: Settings, as_of: date) -> dict:
    """The daily run's steps in the flow's order, called directly."""
    ctx = daily.RunContext(settings)
    daily.begin_run(ctx, as_of)
    daily.refresh(ctx, as_of)
    daily.plan(ctx, as_of)
    daily.carry_out_contacts(ctx, as_of, "call")
    daily.carry_out_contacts(ctx, as_of, "sms")
    daily.issue_visit_sheets(ctx, as_of)
    daily.issue_notices(ctx, as_of, "notice")
    daily.issue_notices(ctx, as_of, "guarantor_contact")
    daily.refer_to_legal(ctx, as_of)
    daily.blacklist_resolved(ctx, as_of)
    return daily.finish_run(ctx, as_of)


def run_days(settings: Settings, first: date, last: date) -> None:
    day = first
    while day <= last:
        run_day(settings, day)
        day += timedelta(days=1)
