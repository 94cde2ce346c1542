"""What an operator does to a case, as plain functions over a session.

The command line (and, later, the Prefect deployments of the operators'
console) call these; each takes a session and leaves the commit to its caller.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dunning import ledger
from dunning.arrears import cents, position
from dunning.cases import day_plans, ledger_states, refresh_cases
from dunning.errors import DunningError, NotFound
from dunning.formatting import mask_id
from dunning.models import (
    Action,
    ActionKind,
    ActionState,
    BlacklistEntry,
    Case,
    CaseState,
    DailyRun,
    LegalReferral,
    Loan,
    OverdueReason,
    Payment,
    Promise,
    PromiseState,
)
from dunning.playbook import BORROWER, Playbook

OUTCOMES = {
    "visit": ("met", "not-met", "business-closed", "refused"),
    "call": ("answered", "no-answer", "busy", "wrong-number", "refused"),
}


class InvalidRequest(DunningError):
    """An operator's request names something that cannot be done; it says why."""


# The same notation the import takes: no sign, exponent or separators, and no
# more digits than the store keeps exactly.
_AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]+)?")


def parse_amount(raw: str, field: str = "amount") -> Decimal:
    text = raw.strip()
    if not _AMOUNT.fullmatch(text):
        raise InvalidRequest(
            f"{field} {raw!r} is not an amount; expected a positive decimal like "
            "1234.56, at most 12 digits before the point"
        )
    amount = cents(Decimal(text))
    if amount <= 0:
        raise InvalidRequest(f"{field} {raw!r} must be at least 0.01")
    return amount


def get_loan(session: Session, loan_id: str) -> Loan:
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise NotFound(f"loan {loan_id!r} not found; check the loan number")
    return loan


def current_case(session: Session, loan_id: str) -> Case | None:
    return session.scalar(
        select(Case).where(Case.loan_id == loan_id).order_by(Case.id.desc()).limit(1)
    )


# Payments and outcomes -----------------------------------------------------


def record_payment(
    session: Session, loan_id: str, amount: Decimal, paid_on: date, actor: str
) -> Payment:
    get_loan(session, loan_id)
    payment = Payment(
        id=f"manual-{loan_id}-{paid_on.isoformat()}-{uuid.uuid4().hex[:8]}",
        loan_id=loan_id,
        paid_on=paid_on,
        amount=amount,
        source="manual",
    )
    session.add(payment)
    ledger.audit(
        session,
        actor,
        "payment-recorded",
        "loan",
        loan_id,
        payment=payment.id,
        on=paid_on.isoformat(),
    )
    return payment


@dataclass(frozen=True)
class Outcome:
    kind: str
    outcome: str
    on: date
    officer: str = ""
    notes: str = ""
    promise_date: date | None = None
    promise_amount: Decimal | None = None
    reason: str | None = None


def record_outcome(
    session: Session,
    loan_id: str,
    result: Outcome,
    actor: str,
    max_promise_days: int | None = None,
) -> dict[str, Any]:
    """Record what a visit or call found, a promise to pay, an overdue reason."""
    get_loan(session, loan_id)
    if result.kind not in OUTCOMES:
        raise InvalidRequest(f"kind {result.kind!r}: expected one of {list(OUTCOMES)}")
    if result.outcome not in OUTCOMES[result.kind]:
        raise InvalidRequest(
            f"outcome {result.outcome!r} for a {result.kind}: expected one of "
            f"{list(OUTCOMES[result.kind])}"
        )
    if (result.promise_date is None) != (result.promise_amount is None):
        raise InvalidRequest("a promise needs both --promise-date and --promise-amount")
    if result.promise_date is not None and result.promise_date < result.on:
        raise InvalidRequest(
            f"promise date {result.promise_date} is before the outcome's date "
            f"{result.on}; a promise is to pay on or after the day it is made"
        )
    if (
        result.promise_date is not None
        and max_promise_days is not None
        and (result.promise_date - result.on).days > max_promise_days
    ):
        raise InvalidRequest(
            f"promise date {result.promise_date} is more than {max_promise_days} "
            f"days after {result.on}; the playbook accepts promises up to "
            f"{max_promise_days} days ahead (promises.max_days)"
        )
    if result.reason is not None and result.reason not in {
        r.value for r in OverdueReason
    }:
        raise InvalidRequest(
            f"reason {result.reason!r}: expected one of "
            f"{[r.value for r in OverdueReason]}"
        )
    case = current_case(session, loan_id)
    if case is None or case.state == CaseState.RESOLVED:
        raise InvalidRequest(f"loan {loan_id!r} has no open case to record against")

    action = session.scalar(
        select(Action).where(
            Action.case_id == case.id,
            Action.kind == ActionKind(result.kind),
            Action.target == BORROWER,
            Action.planned_on == result.on,
        )
    )
    if action is None:
        action = Action(
            case_id=case.id,
            loan_id=loan_id,
            kind=ActionKind(result.kind),
            target=BORROWER,
            planned_on=result.on,
            rule="manual",
            state=ActionState.DONE,
            channel="person",
        )
        session.add(action)
    action.state = ActionState.DONE
    action.outcome = result.outcome
    action.officer = result.officer or action.officer
    action.notes = result.notes
    action.finished_at = action.finished_at or ledger.utcnow()
    session.flush()

    promise = None
    if result.promise_date is not None and result.promise_amount is not None:
        promise = Promise(
            case_id=case.id,
            action_id=action.id,
            made_on=result.on,
            promised_on=result.promise_date,
            amount=result.promise_amount,
            state=PromiseState.PENDING,
        )
        session.add(promise)
    if result.reason is not None:
        case.reason = OverdueReason(result.reason)
    if result.kind == "call" and result.outcome == "wrong-number":
        _mark_wrong_number(session, loan_id)
    session.flush()
    ledger.audit(
        session,
        actor,
        "outcome-recorded",
        "case",
        case.id,
        action=action.id,
        kind=result.kind,
        outcome=result.outcome,
        promise=promise.id if promise else None,
        reason=result.reason,
    )
    return {
        "case": case.id,
        "action": action.id,
        "promise": promise.id if promise else None,
    }


def _mark_wrong_number(session: Session, loan_id: str) -> None:
    """The number the borrower is called on is not theirs: stop calling it."""
    loan = get_loan(session, loan_id)
    for phone in loan.borrower.phones:
        if phone.status == "ok":
            phone.status = "wrong_number"
            return


def awaiting_outcome(session: Session, loan_id: str, kind: str) -> date | None:
    """The day of the loan's latest visit or call handed out and not yet reported."""
    if kind not in OUTCOMES:
        return None
    return session.scalar(
        select(Action.planned_on)
        .where(
            Action.loan_id == loan_id,
            Action.kind == ActionKind(kind),
            Action.target == BORROWER,
            Action.state == ActionState.ISSUED,
        )
        .order_by(Action.planned_on.desc())
        .limit(1)
    )


# Looking without touching ----------------------------------------------------


def plan_preview(
    session: Session, as_of: date, playbook: Playbook
) -> list[dict[str, Any]]:
    """The day's plan for every open case, compared with the ledger.

    The refresh runs inside the caller's transaction, which the caller rolls
    back: the preview sees exactly what a run would, and changes nothing.
    """
    refreshed = refresh_cases(session, as_of, playbook)
    new_cases = set(refreshed.opened)
    # Imported here: the legal module builds on the operations in this one.
    from dunning.legal import with_legal_facts

    plans = with_legal_facts(
        session, as_of, playbook, day_plans(session, as_of, playbook)
    )
    states = ledger_states(session, as_of, [p.case.case_id or 0 for p in plans])
    rows = []
    for item in plans:
        for step in item.plan.steps:
            rows.append(_plan_row(item.case, step, states, None, new_cases))
        for skip in item.plan.skips:
            rows.append(_plan_row(item.case, skip, states, skip.reason, new_cases))
    return rows


def _plan_row(case, step, states, skip_reason, new_cases) -> dict[str, Any]:
    known = case.case_id not in new_cases
    state = states.get((case.case_id, step.kind, step.target)) if known else None
    return {
        "loan": case.loan_id,
        "case": case.case_id if known else None,
        "dpd": case.dpd,
        "kind": step.kind,
        "target": step.target,
        "template": step.template,
        "rule": step.rule,
        "state": state or "new",
        "skip_reason": skip_reason,
    }


def case_report(
    session: Session, loan_id: str, as_of: date | None, playbook: Playbook
) -> dict[str, Any]:
    """A case as of a date (default: the latest daily run's view of it)."""
    loan = get_loan(session, loan_id)
    cases = list(
        session.scalars(select(Case).where(Case.loan_id == loan_id).order_by(Case.id))
    )
    if as_of is None:
        as_of = session.scalar(
            select(func.max(DailyRun.as_of)).where(DailyRun.finished_at.is_not(None))
        )
    if as_of is not None:
        # The latest episode begun by then, resolved or not.
        cases = [c for c in cases if c.opened_on <= as_of]
    case = cases[-1] if cases else None
    report: dict[str, Any] = {
        "loan": loan.id,
        # A borrower's id may be an ID card number: shown masked, like elsewhere.
        "borrower": mask_id(loan.borrower_id),
        "product": loan.product,
        "as_of": as_of.isoformat() if as_of else None,
    }
    if as_of is not None:
        pos = position(
            [(i.due_on, i.amount) for i in loan.installments],
            [(p.paid_on, p.amount) for p in loan.payments],
            as_of,
            playbook.terms(loan.product).penalty_daily_rate,
        )
        report.update(
            arrears=str(cents(pos.arrears)), dpd=pos.dpd, penalty=str(pos.penalty)
        )
    if case is None:
        report.update(case=None, state="no-case", actions=[], promises=[])
        report.update(legal_referral=None, blacklisted=False)
        return report

    day = as_of or case.refreshed_on
    state = case.state.value
    if case.resolved_on and case.resolved_on > day:
        state = (
            CaseState.LEGAL.value
            if case.referred_on and case.referred_on <= day
            else "open"
        )
    elif case.state == CaseState.LEGAL and case.referred_on and case.referred_on > day:
        state = "open"
    actions = session.scalars(
        select(Action)
        .where(Action.case_id == case.id, Action.planned_on <= day)
        .order_by(Action.planned_on, Action.id)
    )
    promises = session.scalars(
        select(Promise)
        .where(Promise.case_id == case.id, Promise.made_on <= day)
        .order_by(Promise.id)
    )
    referral = session.scalar(
        select(LegalReferral).where(
            LegalReferral.case_id == case.id, LegalReferral.referred_on <= day
        )
    )
    blacklisted = session.scalar(
        select(BlacklistEntry.id).where(
            BlacklistEntry.borrower_id == loan.borrower_id,
            BlacklistEntry.listed_on <= day,
            BlacklistEntry.removed_on.is_(None),
        )
    )
    report.update(
        case=case.id,
        state=state,
        opened_on=case.opened_on.isoformat(),
        overdue_since=case.overdue_since.isoformat(),
        resolved_on=case.resolved_on.isoformat()
        if case.resolved_on and case.resolved_on <= day
        else None,
        reason=case.reason.value,
        actions=[
            {
                "id": a.id,
                "on": a.planned_on.isoformat(),
                "kind": a.kind.value,
                "target": a.target,
                "rule": a.rule,
                "state": a.state.value,
                "outcome": a.outcome or None,
                "skip_reason": a.skip_reason or None,
                "channel_ref": a.channel_ref or None,
            }
            for a in actions
        ],
        promises=[
            {
                "made_on": p.made_on.isoformat(),
                "promised_on": p.promised_on.isoformat(),
                "amount": str(p.amount),
                "state": p.state.value
                if p.settled_on is None or p.settled_on <= day
                else "pending",
            }
            for p in promises
        ],
        legal_referral=None
        if referral is None
        else {
            "referred_on": referral.referred_on.isoformat(),
            "dpd": referral.dpd,
            "arrears": str(referral.arrears),
            "reason": referral.reason,
            "state": referral.state,
        },
        blacklisted=blacklisted is not None,
    )
    return report
