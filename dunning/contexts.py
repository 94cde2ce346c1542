"""Everything a template prints, loaded in bulk and formatted in code.

Templates compute nothing: amounts, dates, masks and labels are strings by the
time they get there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from dunning.arrears import allocate
from dunning.formatting import cn_date, mask_id, mask_phone, money
from dunning.models import (
    Action,
    Borrower,
    Case,
    Guarantor,
    GuarantorKind,
    Loan,
    LoanGuarantor,
    Notice,
    Phone,
    Promise,
)

GUARANTOR_KIND_LABELS = {
    GuarantorKind.GUARANTOR: "担保人",
    GuarantorKind.JOINT_GUARANTOR: "联保人",
    GuarantorKind.COUNTER_GUARANTOR: "反担保人",
}
ACTION_KIND_LABELS = {
    "call": "电话催收",
    "sms": "短信提醒",
    "visit": "上门走访",
    "notice": "逾期催收通知书",
    "guarantor_contact": "联系担保人",
    "legal_referral": "移交法务",
}
REASON_LABELS = {
    "cash-flow": "资金周转困难",
    "market": "市场行情变化",
    "family": "家庭原因",
    "fraud": "涉嫌挪用或欺诈",
    "unknown": "尚未查明",
}
ACTION_STATE_LABELS = {
    "planned": "已计划",
    "claimed": "执行中",
    "issued": "已派发",
    "done": "已完成",
    "failed": "失败",
    "skipped": "未执行",
    "cancelled": "已取消",
}
PROMISE_LABELS = {"pending": "待兑现", "kept": "已兑现", "broken": "未兑现"}
NOTICE_KIND_LABELS = {"overdue": "逾期催收通知书", "guarantor": "担保人通知书"}
SMS_LINE_TYPES = ("mobile", "fixed_line_or_mobile")


@dataclass(frozen=True)
class Lender:
    name: str
    sms_signature: str
    callback_phone: str

    @classmethod
    def load(cls, path: Path) -> Lender:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls(
            name=str(raw.get("name", "")),
            sms_signature=str(raw.get("sms_signature", raw.get("name", ""))),
            callback_phone=str(raw.get("callback_phone", "")),
        )


@dataclass
class CaseFile:
    case: Case
    loan: Loan
    borrower: Borrower
    guarantors: list[LoanGuarantor]
    actions: list[Action] = field(default_factory=list)
    promises: list[Promise] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.loan.currency

    def money(self, amount: Decimal) -> str:
        return money(amount, self.loan.currency)

    def guarantor(self, guarantor_id: str) -> LoanGuarantor | None:
        return next(
            (g for g in self.guarantors if g.guarantor_id == guarantor_id), None
        )

    def phone_for(self, target: str, texting: bool = False) -> str | None:
        """The number to reach ``target`` on, or None when there is none usable."""
        if target.startswith("guarantor:"):
            link = self.guarantor(target.split(":", 1)[1])
            if link is None:
                return None
            person: Guarantor = link.guarantor
            usable = person.phone and person.phone_status == "ok"
            if texting:
                usable = usable and person.phone_line_type in SMS_LINE_TYPES
            return person.phone if usable else None
        phones: Iterable[Phone] = self.borrower.phones
        for phone in phones:
            if phone.status != "ok":
                continue
            if texting and phone.line_type not in SMS_LINE_TYPES:
                continue
            return phone.number
        return None

    def synthetic(self, target: str) -> bool:
        """Whether the person at ``target`` was made up (marked so at import)."""
        if target.startswith("guarantor:"):
            link = self.guarantor(target.split(":", 1)[1])
            return link is not None and link.guarantor.synthetic
        return self.borrower.synthetic

    def why_unreachable(self, target: str, texting: bool = False) -> str:
        """The skip reason when ``phone_for`` finds no number: what was marked."""
        if target.startswith("guarantor:"):
            link = self.guarantor(target.split(":", 1)[1])
            statuses = (
                [link.guarantor.phone_status] if link and link.guarantor.phone else []
            )
        else:
            statuses = [p.status for p in self.borrower.phones]
        marked = [status for status in statuses if status != "ok"]
        if marked:
            return f"contact-{marked[0].replace('_', '-')}"
        return "not-sms-capable" if texting and statuses else "no-usable-phone"


def load_case_files(
    session: Session, case_ids: Iterable[int], history: bool = False
) -> dict[int, CaseFile]:
    """Case, loan, borrower, phones, guarantors (and history) in a few queries."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    cases = session.scalars(
        select(Case)
        .where(Case.id.in_(ids))
        .options(
            joinedload(Case.loan).joinedload(Loan.borrower),
            selectinload(Case.loan, Loan.borrower, Borrower.phones),
            selectinload(Case.loan, Loan.installments),
            selectinload(Case.loan, Loan.payments),
            selectinload(Case.loan, Loan.guarantors, LoanGuarantor.guarantor),
        )
    ).unique()
    files = {
        case.id: CaseFile(
            case=case,
            loan=case.loan,
            borrower=case.loan.borrower,
            guarantors=list(case.loan.guarantors),
        )
        for case in cases
    }
    if history:
        for action in session.scalars(
            select(Action)
            .where(Action.case_id.in_(ids))
            .order_by(Action.planned_on, Action.id)
        ):
            files[action.case_id].actions.append(action)
        for promise in session.scalars(
            select(Promise).where(Promise.case_id.in_(ids)).order_by(Promise.id)
        ):
            files[promise.case_id].promises.append(promise)
        for notice in session.scalars(
            select(Notice).where(Notice.case_id.in_(ids)).order_by(Notice.id)
        ):
            files[notice.case_id].notices.append(notice)
    return files


def _masked(number: str) -> str:
    return mask_phone(number) if number.startswith("+") else mask_id(number)


def _guarantor_rows(file: CaseFile) -> list[dict[str, str]]:
    return [
        {
            "name": link.guarantor.name,
            "kind_label": GUARANTOR_KIND_LABELS[link.kind],
            "phone": _masked(link.guarantor.phone) if link.guarantor.phone else "—",
        }
        for link in file.guarantors
    ]


def installment_rows(
    file: CaseFile, as_of: date, due_only: bool = True
) -> list[dict[str, str]]:
    """Each installment with what FIFO has paid of it by ``as_of``."""
    statuses = allocate(
        [(i.due_on, i.amount) for i in file.loan.installments],
        [(p.paid_on, p.amount) for p in file.loan.payments],
        as_of,
    )
    return [
        {
            "due_on": cn_date(s.due_on),
            "amount": file.money(s.amount),
            "paid": file.money(s.paid),
            "outstanding": file.money(s.outstanding),
        }
        for s in statuses
        if s.due_on < as_of or not due_only
    ]


def call_context(file: CaseFile, lender: Lender) -> dict[str, Any]:
    case = file.case
    return {
        "lender": lender.name,
        "borrower_name": file.borrower.name,
        "loan_id": file.loan.id,
        "arrears": file.money(case.arrears),
        "penalty": file.money(case.penalty),
        "dpd": case.dpd,
        "overdue_since": cn_date(case.overdue_since),
        "callback_phone": lender.callback_phone,
    }


def sms_context(file: CaseFile, lender: Lender) -> dict[str, Any]:
    return {
        "lender": lender.sms_signature,
        "borrower_name": file.borrower.name,
        "loan_tail": file.loan.id[-4:],
        "arrears": file.money(file.case.arrears),
        "dpd": file.case.dpd,
        "callback_phone": lender.callback_phone,
    }


def visit_entry(file: CaseFile, purpose: str, promise: str) -> dict[str, Any]:
    phone = file.phone_for("borrower")
    return {
        "loan_id": file.loan.id,
        "borrower_name": file.borrower.name,
        "address": file.borrower.address or "—",
        "phone": _masked(phone) if phone else "—",
        "dpd": file.case.dpd,
        "arrears": file.money(file.case.arrears),
        "penalty": file.money(file.case.penalty),
        "purpose": purpose,
        "promise": promise,
        "guarantors": _guarantor_rows(file),
    }


def notice_context(
    file: CaseFile,
    lender: Lender,
    as_of: date,
    notice_no: str,
    daily_rate: Decimal,
    pay_within_days: int = 7,
) -> dict[str, Any]:
    case, loan = file.case, file.loan
    return {
        "lender": lender.name,
        "branch": loan.branch,
        "notice_no": notice_no,
        "issued_on": cn_date(as_of),
        "borrower_name": file.borrower.name,
        "address": file.borrower.address or "—",
        "loan_id": loan.id,
        "product": loan.product,
        "currency": loan.currency,
        "principal": "—" if loan.principal is None else file.money(loan.principal),
        "installments": installment_rows(file, as_of),
        "arrears": file.money(case.arrears),
        "penalty": file.money(case.penalty),
        "total_due": file.money(case.arrears + case.penalty),
        "dpd": case.dpd,
        "overdue_since": cn_date(case.overdue_since),
        "daily_rate": f"{(daily_rate * 100).normalize():f}%",
        "pay_by": cn_date(as_of + timedelta(days=pay_within_days)),
        "callback_phone": lender.callback_phone,
        "officer": loan.officer,
    }


def guarantor_notice_context(
    file: CaseFile,
    link: LoanGuarantor,
    purpose: str,
    **notice: Any,
) -> dict[str, Any]:
    context = notice_context(file, **notice)
    context.update(
        guarantor_name=link.guarantor.name,
        guarantor_kind_label=GUARANTOR_KIND_LABELS[link.kind],
        purpose=purpose or "collect_together",
    )
    return context
