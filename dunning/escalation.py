"""An operator's escalation of a case: supervisor review, a visit today, legal.

``escalate`` checks the request (known loan, a case still open, a reason, an
operator), records it with the operator and the flow run that carried it, and
does what the target says. Messages name the value that was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunning import ledger
from dunning.errors import NotFound
from dunning.models import Case, CaseState, Escalation, Loan
from dunning.operations import InvalidRequest
from dunning.playbook import BORROWER

if TYPE_CHECKING:
    from dunning.daily import RunContext

SUPERVISOR_REVIEW = "supervisor-review"
FIELD_VISIT_TODAY = "field-visit-today"
LEGAL_REFERRAL = "legal-referral"
TARGETS = (SUPERVISOR_REVIEW, FIELD_VISIT_TODAY, LEGAL_REFERRAL)
# Short words for the command line and for run names: escalate-LN123-legal.
SHORT = {
    SUPERVISOR_REVIEW: "review",
    FIELD_VISIT_TODAY: "visit",
    LEGAL_REFERRAL: "legal",
}
ALIASES = {short: target for target, short in SHORT.items()} | {t: t for t in TARGETS}


@dataclass(frozen=True)
class EscalationRequest:
    ref: str  # a loan number, or "case:<number>"
    target: str
    reason: str
    operator: str
    on: date
    flow_run_id: str = ""


def target_of(word: str) -> str:
    """The target a word names (``legal``, ``visit``, ``review`` or in full)."""
    try:
        return ALIASES[word.strip().lower()]
    except KeyError:
        raise InvalidRequest(
            f"escalation target {word!r}: expected one of {sorted(ALIASES)}"
        ) from None


def check_request(request: EscalationRequest) -> None:
    if not request.ref.strip():
        raise InvalidRequest("give the loan number (or case:<number>) to escalate")
    target_of(request.target)
    if not request.reason.strip():
        raise InvalidRequest(
            f"escalating {request.ref!r} needs a reason: say why, for the record"
        )
    if not request.operator.strip():
        raise InvalidRequest(f"escalating {request.ref!r} needs the operator's name")


def open_case_for(session: Session, ref: str) -> Case:
    """The open (or legal) case a loan number or ``case:<n>`` names."""
    ref = ref.strip()
    if ref.lower().startswith("case:"):
        number = ref.split(":", 1)[1]
        case = session.get(Case, int(number)) if number.isdigit() else None
        if case is None:
            raise NotFound(f"case {ref!r} not found; check the case number")
    else:
        if session.get(Loan, ref) is None:
            raise NotFound(f"loan {ref!r} not found; check the loan number")
        case = session.scalar(
            select(Case).where(Case.loan_id == ref).order_by(Case.id.desc()).limit(1)
        )
        if case is None:
            raise InvalidRequest(
                f"loan {ref!r} has never been overdue: there is no case to escalate"
            )
    if case.state == CaseState.RESOLVED:
        raise InvalidRequest(
            f"loan {case.loan_id!r}: case {case.id} was closed on {case.resolved_on}; "
            "there is nothing to escalate"
        )
    return case


def escalate(
    session: Session, ctx: RunContext, request: EscalationRequest
) -> dict[str, Any]:
    """Record the escalation and carry out its target; the caller commits."""
    check_request(request)
    target = target_of(request.target)
    case = open_case_for(session, request.ref)
    if target == FIELD_VISIT_TODAY and case.state == CaseState.LEGAL:
        raise InvalidRequest(
            f"loan {case.loan_id!r} is with the legal department: no field visits"
        )
    escalation = Escalation(
        case_id=case.id,
        loan_id=case.loan_id,
        on=request.on,
        target=target,
        reason=request.reason.strip()[:400],
        operator=request.operator.strip(),
        flow_run_id=request.flow_run_id,
    )
    session.add(escalation)
    session.flush()
    result: dict[str, Any] = {
        "escalation": escalation.id,
        "case": case.id,
        "loan": case.loan_id,
        "target": target,
    }
    if target == FIELD_VISIT_TODAY:
        escalation.action_id = _visit_today(session, ctx, case, request)
        result["action"] = escalation.action_id
    elif target == LEGAL_REFERRAL:
        from dunning.legal import refer_by_hand

        referral, action = refer_by_hand(
            session, ctx, case, request.on, request.operator
        )
        escalation.action_id = action.id
        result.update(action=action.id, referral=referral.id)
    ledger.audit(
        session,
        request.operator.strip(),
        "escalated",
        "case",
        case.id,
        loan=case.loan_id,
        target=target,
        escalation=escalation.id,
        flow_run_id=request.flow_run_id,
        reason=escalation.reason,
    )
    return result


def _visit_today(
    session: Session, ctx: RunContext, case: Case, request: EscalationRequest
) -> int:
    from dunning.models import Action, ActionKind, ActionState

    ledger.add_actions(
        session,
        [
            ledger.NewAction(
                case_id=case.id,
                loan_id=case.loan_id,
                kind="visit",
                target=BORROWER,
                planned_on=request.on,
                rule="escalation",
                template=ctx.playbook.visit_template,
                purpose=f"人工升级：{request.reason.strip()}"[:60],
            )
        ],
    )
    action = session.scalars(
        select(Action).where(
            Action.case_id == case.id,
            Action.kind == ActionKind.VISIT,
            Action.target == BORROWER,
            Action.planned_on == request.on,
        )
    ).one()
    if action.state in (ActionState.CANCELLED, ActionState.SKIPPED):
        action.state = ActionState.PLANNED
        action.skip_reason = ""
        action.rule = "escalation"
    return action.id
