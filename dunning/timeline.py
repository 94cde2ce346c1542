"""One case's whole history as markdown, for an operator about to decide.

Loan and case numbers, dates, states and amounts only: no names, ID numbers or
phone numbers, so the page can be a Prefect artifact.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunning.formatting import mask_id, money
from dunning.models import (
    Action,
    Case,
    CaseDay,
    Escalation,
    LegalReferral,
    LegalStep,
    Notice,
    NoticeService,
    Promise,
    ReferralDecision,
)
from dunning.operations import get_loan


def target_label(target: str) -> str:
    """A guarantor's number is personal data: only its last four are shown."""
    kind, _, who = target.partition(":")
    return f"{kind}:{mask_id(who)}" if who else target


def _table(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(c).replace("|", "\\|").replace("\n", " ") for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def case_timeline(session: Session, loan_id: str) -> str:
    """Every case of the loan, newest first: arrears, actions, promises, ..."""
    loan = get_loan(session, loan_id)
    cases = list(
        session.scalars(
            select(Case).where(Case.loan_id == loan.id).order_by(Case.id.desc())
        )
    )
    lines = [f"# Loan {loan.id}", ""]
    lines.append(
        f"Product {loan.product}, branch {loan.branch}, currency {loan.currency}."
    )
    lines.append("")
    if not cases:
        return "\n".join([*lines, "No case: the loan has never been overdue."])

    def cash(amount: Decimal | None) -> str:
        return "—" if amount is None else money(amount, loan.currency)

    for case in cases:
        lines += [
            f"## Case {case.id}: {case.state.value}",
            "",
            f"Opened {case.opened_on}, overdue since {case.overdue_since}, "
            f"DPD {case.dpd} (max {case.max_dpd}), arrears {cash(case.arrears)}, "
            f"penalty {cash(case.penalty)}, reason {case.reason.value}"
            + (f", resolved {case.resolved_on}" if case.resolved_on else "")
            + ".",
            "",
            "### Arrears over time",
            "",
        ]
        days = session.scalars(
            select(CaseDay).where(CaseDay.case_id == case.id).order_by(CaseDay.on)
        )
        lines += _table(
            ("date", "DPD", "arrears", "penalty"),
            [(d.on, d.dpd, cash(d.arrears), cash(d.penalty)) for d in days],
        )
        actions = session.scalars(
            select(Action)
            .where(Action.case_id == case.id)
            .order_by(Action.planned_on, Action.id)
        )
        lines += ["### Actions and outcomes", ""]
        lines += _table(
            ("#", "date", "kind", "target", "rule", "state", "outcome", "officer"),
            [
                (
                    a.id,
                    a.planned_on,
                    a.kind.value,
                    target_label(a.target),
                    a.rule,
                    a.state.value,
                    a.outcome or a.skip_reason or "",
                    a.officer,
                )
                for a in actions
            ],
        )
        promises = session.scalars(
            select(Promise).where(Promise.case_id == case.id).order_by(Promise.id)
        )
        lines += ["### Promises", ""]
        lines += _table(
            ("made", "promised for", "amount", "state", "settled"),
            [
                (p.made_on, p.promised_on, cash(p.amount), p.state.value, p.settled_on)
                for p in promises
            ],
        )
        lines += ["### Notices and service", ""]
        notice_rows: list[tuple[object, ...]] = []
        for notice in session.scalars(
            select(Notice).where(Notice.case_id == case.id).order_by(Notice.id)
        ):
            services = list(
                session.scalars(
                    select(NoticeService)
                    .where(NoticeService.notice_id == notice.id)
                    .order_by(NoticeService.id)
                )
            )
            attempts = "; ".join(
                f"{s.attempted_on} {'served' if s.served else 'not served'}"
                f"{' ' + s.how if s.how else ''} by {s.served_by}"
                for s in services
            )
            notice_rows.append(
                (
                    notice.id,
                    notice.issued_on,
                    notice.kind,
                    target_label(notice.recipient),
                    attempts or "not served yet",
                )
            )
        lines += _table(("#", "issued", "kind", "to", "service"), notice_rows)
        escalations = session.scalars(
            select(Escalation)
            .where(Escalation.case_id == case.id)
            .order_by(Escalation.id)
        )
        lines += ["### Escalations", ""]
        lines += _table(
            ("date", "target", "reason", "operator", "flow run"),
            [
                (e.on, e.target, e.reason, e.operator, e.flow_run_id)
                for e in escalations
            ],
        )
        referral = session.scalar(
            select(LegalReferral).where(LegalReferral.case_id == case.id)
        )
        if referral is not None:
            lines += [
                "### Legal referral",
                "",
                f"Referral {referral.id}: {referral.state}, referred "
                f"{referral.referred_on} at DPD {referral.dpd} ({referral.reason}).",
                "",
            ]
            decisions = session.scalars(
                select(ReferralDecision)
                .where(ReferralDecision.referral_id == referral.id)
                .order_by(ReferralDecision.id)
            )
            lines += _table(
                ("date", "decision", "by", "reason", "default"),
                [
                    (d.decided_on, d.decision, d.decided_by, d.reason, d.by_default)
                    for d in decisions
                ],
            )
        steps = list(
            session.scalars(
                select(LegalStep)
                .where(LegalStep.case_id == case.id)
                .order_by(LegalStep.on, LegalStep.id)
            )
        )
        if steps:
            lines += ["### Legal steps", ""]
            lines += _table(
                ("date", "step", "effect", "amount", "reference", "by"),
                [
                    (s.on, s.step, s.effect, cash(s.amount), s.reference, s.recorded_by)
                    for s in steps
                ],
            )
    return "\n".join(lines)
