"""Opening, refreshing and resolving cases, and planning their day.

Functions here load, decide (through ``dunning.arrears`` and
``dunning.playbook``) and record through the session they are given; the
caller owns the transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from dunning import ledger
from dunning.arrears import Position, position
from dunning.models import (
    Action,
    ActionState,
    Case,
    CaseDay,
    CaseState,
    Installment,
    Loan,
    LoanGuarantor,
    Payment,
    Promise,
    PromiseState,
)
from dunning.playbook import (
    CaseView,
    DayPlan,
    Playbook,
    Skip,
    Step,
    check_promise,
    plan_day,
)

UNRESOLVED = (CaseState.OPEN, CaseState.LEGAL)
# SQLite sums money as floating point: half a cent absorbs its rounding and is
# exact for a database that keeps cents only.
HALF_CENT = Decimal("0.005")


@dataclass
class RefreshResult:
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    refreshed: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    expired: int = 0


def refresh_cases(session: Session, as_of: date, playbook: Playbook) -> RefreshResult:
    """Bring every case up to ``as_of``: open new ones, resolve paid ones."""
    result = RefreshResult()
    result.expired = ledger.cancel_expired(session, as_of)

    cases = {
        case.loan_id: case
        for case in session.scalars(select(Case).where(Case.state.in_(UNRESOLVED)))
    }
    positions = loan_positions(session, as_of, playbook, set(cases))
    # Loaded once: one lookup per case would cost a query (and a flush) each.
    days = {
        day.case_id: day
        for day in session.scalars(select(CaseDay).where(CaseDay.on == as_of))
    }

    # New cases first, flushed together, so that each has its id below.
    opened = [
        _open_case(session, loan_id, pos, as_of)
        for loan_id, (_, pos) in positions.items()
        if loan_id not in cases and pos.arrears >= playbook.min_overdue_amount
    ]
    session.flush()
    for case in opened:
        cases[case.loan_id] = case
        result.opened.append(case.id)
        ledger.audit(
            session,
            "daily-run",
            "case-opened",
            "case",
            case.id,
            loan=case.loan_id,
            on=as_of.isoformat(),
            dpd=case.dpd,
        )

    for loan_id, (_, pos) in positions.items():
        case = cases.get(loan_id)
        if case is None:
            continue
        _update_case(session, case, pos, as_of, days.get(case.id))
        result.refreshed += 1
        if pos.arrears < playbook.min_overdue_amount:
            case.state = CaseState.RESOLVED
            case.resolved_on = as_of
            result.resolved.append(case.id)
            ledger.audit(
                session,
                "daily-run",
                "case-resolved",
                "case",
                case.id,
                loan=loan_id,
                on=as_of.isoformat(),
                max_dpd=case.max_dpd,
            )

    ledger.cancel_for_cases(session, result.resolved, as_of, "case-resolved")
    kept, broken = _settle_promises(session, as_of, playbook, cases, positions)
    result.promises_kept, result.promises_broken = kept, broken
    return result


def loan_positions(
    session: Session,
    as_of: date,
    playbook: Playbook,
    also: Iterable[str] = (),
) -> dict[str, tuple[str, Position]]:
    """Positions of loans owing at least the minimum, and of loans in ``also``.

    The database narrows the portfolio down to loans in arrears with one
    aggregate query; the pinned rules then run on those loans only.
    """
    # TODO: penalty and DPD are computed in Python per candidate loan; for a
    # million open cases this loop costs minutes, and moving it into window
    # functions (running sums per loan) is the way to seconds.
    due = (
        select(Installment.loan_id, func.sum(Installment.amount).label("due"))
        .where(Installment.due_on < as_of)
        .group_by(Installment.loan_id)
        .subquery()
    )
    paid = (
        select(Payment.loan_id, func.sum(Payment.amount).label("paid"))
        .where(Payment.paid_on <= as_of)
        .group_by(Payment.loan_id)
        .subquery()
    )
    owing = (
        select(due.c.loan_id)
        .outerjoin(paid, paid.c.loan_id == due.c.loan_id)
        .where(
            due.c.due - func.coalesce(paid.c.paid, 0)
            >= playbook.min_overdue_amount - HALF_CENT
        )
    )
    candidates = set(session.scalars(owing)) | set(also)
    if not candidates:
        return {}
    wanted = union(
        owing,
        select(Case.loan_id).where(Case.state.in_(UNRESOLVED)),
    ).subquery()

    schedule: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for loan_id, due_on, amount in session.execute(
        select(Installment.loan_id, Installment.due_on, Installment.amount).where(
            Installment.loan_id.in_(select(wanted.c.loan_id))
        )
    ):
        schedule[loan_id].append((due_on, amount))
    paid_rows: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for loan_id, paid_on, amount in session.execute(
        select(Payment.loan_id, Payment.paid_on, Payment.amount).where(
            Payment.loan_id.in_(select(wanted.c.loan_id)),
            Payment.paid_on <= as_of,
        )
    ):
        paid_rows[loan_id].append((paid_on, amount))
    products = {
        loan_id: product
        for loan_id, product in session.execute(
            select(Loan.id, Loan.product).where(Loan.id.in_(select(wanted.c.loan_id)))
        )
    }

    return {
        loan_id: (
            products[loan_id],
            position(
                schedule[loan_id],
                paid_rows[loan_id],
                as_of,
                playbook.terms(products[loan_id]).penalty_daily_rate,
            ),
        )
        for loan_id in candidates
        if loan_id in products
    }


def _open_case(session: Session, loan_id: str, pos: Position, as_of: date) -> Case:
    case = Case(
        loan_id=loan_id,
        state=CaseState.OPEN,
        opened_on=as_of,
        overdue_since=pos.overdue_since or as_of,
        refreshed_on=as_of,
        dpd=pos.dpd,
        max_dpd=pos.dpd,
        arrears=pos.arrears,
        penalty=pos.penalty,
    )
    session.add(case)
    return case


def _update_case(
    session: Session, case: Case, pos: Position, as_of: date, day: CaseDay | None
) -> None:
    case.dpd = pos.dpd
    case.max_dpd = max(case.max_dpd, pos.dpd)
    case.arrears = pos.arrears
    case.penalty = pos.penalty
    case.refreshed_on = as_of
    if pos.overdue_since is not None:
        case.overdue_since = pos.overdue_since
    if day is None:
        session.add(
            CaseDay(
                case_id=case.id,
                on=as_of,
                dpd=pos.dpd,
                arrears=pos.arrears,
                penalty=pos.penalty,
            )
        )
    else:
        day.dpd, day.arrears, day.penalty = pos.dpd, pos.arrears, pos.penalty


def _settle_promises(
    session: Session,
    as_of: date,
    playbook: Playbook,
    cases: dict[str, Case],
    positions: dict[str, tuple[str, Position]],
) -> tuple[int, int]:
    by_case = {case.id: case for case in cases.values()}
    pending = list(
        session.scalars(
            select(Promise).where(
                Promise.state == PromiseState.PENDING,
                Promise.case_id.in_(list(by_case)),
            )
        )
    )
    if not pending:
        return 0, 0
    loans = {by_case[p.case_id].loan_id for p in pending}
    payments: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for loan_id, paid_on, amount in session.execute(
        select(Payment.loan_id, Payment.paid_on, Payment.amount).where(
            Payment.loan_id.in_(loans), Payment.paid_on <= as_of
        )
    ):
        payments[loan_id].append((paid_on, amount))

    kept = broken = 0
    for promise in pending:
        case = by_case[promise.case_id]
        check = check_promise(
            promise.made_on,
            promise.promised_on,
            promise.amount,
            payments[case.loan_id],
            as_of,
            playbook.promise_grace_days,
            arrears_cleared=case.state == CaseState.RESOLVED,
        )
        if check.state == PromiseState.PENDING:
            continue
        promise.state = PromiseState(check.state)
        promise.settled_on = as_of
        kept += check.state == PromiseState.KEPT
        broken += check.state == PromiseState.BROKEN
        ledger.audit(
            session,
            "daily-run",
            f"promise-{check.state}",
            "promise",
            promise.id,
            case=case.id,
            on=as_of.isoformat(),
        )
    return kept, broken


# Planning ------------------------------------------------------------------


@dataclass(frozen=True)
class CasePlan:
    case: CaseView
    plan: DayPlan


def day_plans(session: Session, as_of: date, playbook: Playbook) -> list[CasePlan]:
    """What the playbook decides today for every case refreshed today."""
    cases = list(
        session.scalars(
            select(Case)
            .where(Case.state.in_(UNRESOLVED), Case.refreshed_on == as_of)
            .order_by(Case.id)
        )
    )
    loan_ids = [case.loan_id for case in cases]
    products = {
        loan_id: product
        for loan_id, product in session.execute(
            select(Loan.id, Loan.product).where(Loan.id.in_(loan_ids))
        )
    }
    guarantors: dict[str, list[str]] = defaultdict(list)
    for loan_id, guarantor_id in session.execute(
        select(LoanGuarantor.loan_id, LoanGuarantor.guarantor_id)
        .where(LoanGuarantor.loan_id.in_(loan_ids))
        .order_by(LoanGuarantor.guarantor_id)
    ):
        guarantors[loan_id].append(guarantor_id)
    promise_due: dict[int, date] = {}
    broken_today: set[int] = set()
    for case_id, promised_on, state, settled_on in session.execute(
        select(
            Promise.case_id, Promise.promised_on, Promise.state, Promise.settled_on
        ).where(Promise.case_id.in_([c.id for c in cases]))
    ):
        if state == PromiseState.PENDING:
            promise_due[case_id] = max(
                promised_on, promise_due.get(case_id, promised_on)
            )
        elif state == PromiseState.BROKEN and settled_on == as_of:
            broken_today.add(case_id)

    done_rules: dict[int, set[str]] = defaultdict(set)
    for case_id, rule in session.execute(
        select(Action.case_id, Action.rule)
        .where(
            Action.case_id.in_([c.id for c in cases]),
            Action.state != ActionState.CANCELLED,
        )
        .distinct()
    ):
        done_rules[case_id].add(rule)

    plans = []
    for case in cases:
        view = CaseView(
            case_id=case.id,
            loan_id=case.loan_id,
            product=products[case.loan_id],
            dpd=case.dpd,
            guarantor_ids=tuple(guarantors[case.loan_id]),
            in_legal=case.state == CaseState.LEGAL,
            reason=case.reason.value,
            promise_due=promise_due.get(case.id),
            promise_broken_today=case.id in broken_today,
            done_rules=frozenset(done_rules[case.id]),
        )
        plans.append(CasePlan(view, plan_day(view, playbook, as_of)))
    return plans


def record_plans(session: Session, as_of: date, plans: Iterable[CasePlan]) -> int:
    """Write the day's steps as planned and the held-back ones as skipped."""
    rows: list[ledger.NewAction] = []
    for item in plans:
        assert item.case.case_id is not None
        entries: list[tuple[Step | Skip, str, str]] = [
            (step, ActionState.PLANNED, "") for step in item.plan.steps
        ]
        entries += [
            (skip, ActionState.SKIPPED, skip.reason) for skip in item.plan.skips
        ]
        rows += [
            ledger.NewAction(
                case_id=item.case.case_id,
                loan_id=item.case.loan_id,
                kind=entry.kind,
                target=entry.target,
                planned_on=as_of,
                rule=entry.rule,
                template=entry.template,
                purpose=entry.purpose,
                state=state,
                skip_reason=reason,
            )
            for entry, state, reason in entries
        ]
    return ledger.add_actions(session, rows)


def ledger_states(
    session: Session, as_of: date, case_ids: Sequence[int]
) -> dict[tuple[int, str, str], str]:
    """The ledger's state of each (case, kind, target) planned on ``as_of``."""
    rows = session.execute(
        select(Action.case_id, Action.kind, Action.target, Action.state).where(
            Action.planned_on == as_of, Action.case_id.in_(list(case_ids))
        )
    )
    return {
        (case_id, kind.value, target): state.value
        for case_id, kind, target, state in rows
    }
