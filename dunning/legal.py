"""The hand-over to the legal department, and what legal does afterwards.

A case is referred when the playbook says so (the product's DPD threshold, a
fraud reason, a broken installment agreement) or when an operator escalates it
by hand. A referral opens *pending*: automated contact stops that day and the
legal file is built, but the case is still collection's until a supervisor
decides. Approval hands the case to legal (state ``legal``: the playbook plans
nothing for it); rejection returns it to collection and keeps the threshold
from referring it again (only an operator can, by hand); a send-back returns it
to collection for N days, after which the playbook may refer it again.

The legal file is written twice when ``legal_file.restricted_copy`` is on: the
masked copy is a document of record like any other (outbox folder, body in the
database, linked from the referral); the legal department's own copy, with full
ID numbers, is written only under ``DUNNING_HOME/legal-restricted`` with owner-
only permissions, and the database keeps its path and content hash but never
its body. Who may read that folder is the file system's business, not ours.

The file is HTML only. WeasyPrint (the maintained HTML-to-PDF library) is not
installed and this machine has no CJK font, so its PDF would print the Chinese
as empty boxes; the pure-Python PDF libraries here (fpdf2, reportlab) do not
lay out HTML. A PDF is printed from the HTML by whoever needs one.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from dunning import ledger
from dunning.arrears import position
from dunning.cases import CasePlan
from dunning.contexts import (
    ACTION_KIND_LABELS,
    ACTION_STATE_LABELS,
    GUARANTOR_KIND_LABELS,
    NOTICE_KIND_LABELS,
    PROMISE_LABELS,
    REASON_LABELS,
    CaseFile,
    installment_rows,
    load_case_files,
)
from dunning.documents import document_path, write_document
from dunning.errors import ConfigError
from dunning.formatting import cn_date, mask_id, mask_phone, money
from dunning.models import (
    Action,
    ActionKind,
    ActionState,
    Case,
    CaseState,
    Document,
    Escalation,
    Installment,
    InstallmentAgreement,
    LegalReferral,
    LegalReferralApproval,
    LegalStep,
    Loan,
    Notice,
    NoticeService,
    Payment,
    ReferralDecision,
    ReferralState,
)
from dunning.operations import InvalidRequest, current_case, get_loan
from dunning.playbook import BORROWER, REFERRED, Playbook, plan_day

if TYPE_CHECKING:
    from dunning.daily import RunContext

log = logging.getLogger("dunning.legal")

LEGAL_FILE = "legal-file"
RESTRICTED_FILE = "legal-file-restricted"
RULE_LABELS = {
    "legal-threshold": "逾期天数达到移交标准",
    "reason-fraud": "涉嫌挪用或欺诈，立即移交",
    "agreement-broken": "分期还款协议未履行",
    "by-hand": "人工提请移交",
}
SERVICE_LABELS = {"in-person": "当面送达（签收回执）", "registered-mail": "挂号邮寄"}
ESCALATION_LABELS = {
    "supervisor-review": "提请主管审查",
    "field-visit-today": "当日上门走访",
    "legal-referral": "提请移交法务",
}


class Decision(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    SEND_BACK = "send-back"
    # Not a decision yet: the referral stays pending for the next batch.
    HOLD = "hold"


STEP_EFFECTS = ("progress", "close", "reopen")


@dataclass(frozen=True)
class LegalConfig:
    timeout_seconds: int
    poll_seconds: int
    default_outcome: Decision
    default_reason: str
    default_send_back_days: int
    restricted_copy: bool
    steps: dict[str, str]


def load_legal_config(path: Path) -> LegalConfig:
    """Read config/legal.yaml; a bad value is an error naming the file and field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: legal settings file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    approval = raw.get("approval") or {}
    outcome = approval.get("default_outcome", "hold")
    if outcome not in {d.value for d in Decision}:
        raise ConfigError(
            f"{path}: approval.default_outcome = {outcome!r}: expected one of "
            f"{[d.value for d in Decision]}"
        )
    timeout = approval.get("timeout_seconds", 28800)
    days = approval.get("default_send_back_days", 7)
    poll = approval.get("poll_seconds", 10)
    for where, value in (
        ("timeout_seconds", timeout),
        ("default_send_back_days", days),
        ("poll_seconds", poll),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(
                f"{path}: approval.{where} = {value!r}: expected a whole number >= 1"
            )
    steps = {str(k): str(v) for k, v in (raw.get("steps") or {}).items()}
    for step, effect in steps.items():
        if effect not in STEP_EFFECTS:
            raise ConfigError(
                f"{path}: steps.{step} = {effect!r}: expected one of {STEP_EFFECTS}"
            )
    reason = str(approval.get("default_reason", "")).strip()
    if outcome == Decision.REJECT and not reason:
        raise ConfigError(f"{path}: approval.default_reason is needed to reject")
    return LegalConfig(
        timeout_seconds=timeout,
        poll_seconds=poll,
        default_outcome=Decision(outcome),
        default_reason=reason,
        default_send_back_days=days,
        restricted_copy=bool((raw.get("legal_file") or {}).get("restricted_copy")),
        steps=steps,
    )


# Decisions over plain values ------------------------------------------------


# A referral sent back for longer than a year is a rejection in all but name.
MAX_SEND_BACK_DAYS = 365


def check_decision(
    decision: str, reason: str, send_back_days: int | None
) -> tuple[Decision, str, int | None]:
    """The decision as it will be recorded, or an error saying what is missing."""
    if decision not in {d.value for d in Decision}:
        raise InvalidRequest(
            f"decision {decision!r}: expected one of {[d.value for d in Decision]}"
        )
    choice = Decision(decision)
    reason = reason.strip()
    if choice == Decision.REJECT and not reason:
        raise InvalidRequest("a rejection needs a reason the collection team can read")
    if choice == Decision.SEND_BACK:
        if send_back_days is None or not 1 <= send_back_days <= MAX_SEND_BACK_DAYS:
            raise InvalidRequest(
                f"send-back for {send_back_days!r} days: give a number of days "
                f"from 1 to {MAX_SEND_BACK_DAYS}"
            )
        return choice, reason, send_back_days
    return choice, reason, None


def referral_blocks(
    state: str | None, held_until: date | None, as_of: date
) -> tuple[bool, bool]:
    """(pending, held): whether a referral stops contact, or stops re-referral."""
    if state == ReferralState.PENDING:
        return True, False
    if state in (ReferralState.REJECTED, ReferralState.AGREEMENT):
        return False, True
    if state == ReferralState.SENT_BACK:
        return False, held_until is not None and as_of < held_until
    return False, False


def agreement_state(
    parts: Iterable[tuple[date, Decimal]],
    payments: Iterable[tuple[date, Decimal]],
    made_on: date,
    as_of: date,
    grace_days: int = 0,
) -> str:
    """``kept`` once every part is paid, ``broken`` once a part is short past grace.

    Payments since the agreement was made count toward its parts in date order.
    """
    schedule = sorted(parts)
    paid = sum((a for on, a in payments if made_on <= on <= as_of), Decimal("0"))
    owed = Decimal("0")
    for due_on, amount in schedule:
        owed += amount
        if as_of > due_on + timedelta(days=grace_days) and paid < owed:
            return "broken"
    if schedule and paid >= owed:
        return "kept"
    return "active"


def next_working_day(day: date) -> date:
    # TODO: weekends only; public holidays (and China's swapped working
    # weekends) are not known, so a notice may be planned for a holiday.
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


# The playbook, told what legal knows ----------------------------------------


@dataclass(frozen=True)
class LegalFacts:
    pending: bool = False
    held: bool = False
    agreement_broken: bool = False


def legal_facts(
    session: Session, case_ids: Sequence[int], as_of: date, grace_days: int = 0
) -> dict[int, LegalFacts]:
    """What referrals and agreements say about each case on ``as_of``.

    An active agreement found short today is marked broken here, in the
    caller's transaction.
    """
    ids = list(case_ids)
    referrals = {
        case_id: (state, held)
        for case_id, state, held in session.execute(
            select(
                LegalReferral.case_id,
                LegalReferral.state,
                LegalReferralApproval.held_until,
            )
            .outerjoin(
                LegalReferralApproval,
                LegalReferralApproval.referral_id == LegalReferral.id,
            )
            .where(LegalReferral.case_id.in_(ids))
        )
    }
    broken = _check_agreements(session, ids, as_of, grace_days)
    facts: dict[int, LegalFacts] = {}
    for case_id in ids:
        state, held_until = referrals.get(case_id, (None, None))
        pending, held = referral_blocks(state, held_until, as_of)
        # A broken agreement refers once: after that the referral speaks.
        agreement_broken = case_id in broken and state in (
            None,
            ReferralState.AGREEMENT,
        )
        if agreement_broken:
            pending, held = False, False
        if pending or held or agreement_broken:
            facts[case_id] = LegalFacts(pending, held, agreement_broken)
    return facts


def _check_agreements(
    session: Session, case_ids: list[int], as_of: date, grace_days: int
) -> set[int]:
    agreements = list(
        session.scalars(
            select(InstallmentAgreement).where(
                InstallmentAgreement.case_id.in_(case_ids),
                InstallmentAgreement.state.in_(["active", "broken"]),
            )
        )
    )
    if not agreements:
        return set()
    loans = dict(
        session.execute(
            select(Case.id, Case.loan_id).where(
                Case.id.in_([a.case_id for a in agreements])
            )
        ).all()
    )
    payments: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for loan_id, paid_on, amount in session.execute(
        select(Payment.loan_id, Payment.paid_on, Payment.amount).where(
            Payment.loan_id.in_(set(loans.values()))
        )
    ):
        payments[loan_id].append((paid_on, amount))
    broken: set[int] = set()
    for agreement in agreements:
        if agreement.state == "broken":
            broken.add(agreement.case_id)
            continue
        state = agreement_state(
            [
                (date.fromisoformat(p["due_on"]), Decimal(p["amount"]))
                for p in agreement.parts
            ],
            payments[loans[agreement.case_id]],
            agreement.made_on,
            as_of,
            grace_days,
        )
        if state == "active":
            continue
        agreement.state = state
        if state == "broken":
            agreement.broken_on = as_of
            broken.add(agreement.case_id)
        ledger.audit(
            session,
            "daily-run",
            f"agreement-{state}",
            "case",
            agreement.case_id,
            agreement=agreement.id,
            on=as_of.isoformat(),
        )
    return broken


def with_legal_facts(
    session: Session, as_of: date, playbook: Playbook, plans: list[CasePlan]
) -> list[CasePlan]:
    """The day's plans again for cases whose referral or agreement changes them."""
    facts = legal_facts(
        session,
        [p.case.case_id for p in plans if p.case.case_id is not None],
        as_of,
        playbook.promise_grace_days,
    )
    if not facts:
        return plans
    out = []
    for item in plans:
        fact = facts.get(item.case.case_id or 0)
        if fact is None:
            out.append(item)
            continue
        view = replace(
            item.case,
            referral_pending=fact.pending,
            referral_held=fact.held,
            agreement_broken=fact.agreement_broken,
        )
        out.append(CasePlan(view, plan_day(view, playbook, as_of)))
    return out


# Referring -------------------------------------------------------------------


def refer_cases(
    session: Session,
    ctx: RunContext,
    actions: Sequence[Action],
    as_of: date,
    actor: str,
) -> list[LegalReferral]:
    """Open (or reopen) a pending referral and build the legal file per action."""
    files = load_case_files(session, [a.case_id for a in actions], history=True)
    # Looked up, created and flushed together: one round trip per referral
    # would make a day that refers a whole back book take minutes.
    existing = {
        r.case_id: r
        for r in session.scalars(
            select(LegalReferral).where(
                LegalReferral.case_id.in_([a.case_id for a in actions])
            )
        )
    }
    opened = {
        action.id: _open_referral(
            session, files[action.case_id].case, action, as_of, existing
        )
        for action in actions
    }
    session.flush()
    _reset_approvals(session, [r for r, fresh in opened.values() if fresh])
    histories = _file_histories(session, [a.case_id for a in actions])
    referrals = []
    for action in actions:
        file = files[action.case_id]
        referral = opened[action.id][0]
        document = build_legal_file(
            session, ctx, file, referral, as_of, histories[action.case_id]
        )
        referral.document_id = document.id
        file.case.referred_on = as_of
        action.channel = "outbox"
        ledger.finish(
            action,
            ActionState.DONE,
            outcome="referred-pending-approval",
            channel_ref=f"doc-{document.id}",
        )
        ledger.audit(
            session,
            actor,
            "legal-referral",
            "case",
            file.case.id,
            loan=file.case.loan_id,
            on=as_of.isoformat(),
            dpd=file.case.dpd,
            rule=action.rule,
            referral=referral.id,
            document=document.id,
            content_hash=document.content_hash,
        )
        log.info(
            "case %d (loan %s) referred to legal by %s, awaiting approval; file %s",
            file.case.id,
            file.case.loan_id,
            action.rule,
            document.content_hash[:12],
        )
        referrals.append(referral)
    ledger.cancel_for_cases(session, [a.case_id for a in actions], as_of, REFERRED)
    return referrals


def _open_referral(
    session: Session,
    case: Case,
    action: Action,
    as_of: date,
    existing: dict[int, LegalReferral],
) -> tuple[LegalReferral, bool]:
    """The case's referral, opened (or reopened) today; and whether it is new."""
    referral = existing.get(case.id)
    if referral is None:
        referral = LegalReferral(case_id=case.id, referred_on=as_of)
        session.add(referral)
    elif referral.state == ReferralState.PENDING and referral.referred_on == as_of:
        return referral, False
    referral.action_id = action.id
    referral.referred_on = as_of
    referral.dpd = case.dpd
    referral.arrears = case.arrears
    referral.penalty = case.penalty
    referral.reason = action.rule
    referral.state = ReferralState.PENDING
    return referral, True


def _reset_approvals(session: Session, referrals: list[LegalReferral]) -> None:
    """A referral opened today waits for a fresh decision."""
    approvals = {
        a.referral_id: a
        for a in session.scalars(
            select(LegalReferralApproval).where(
                LegalReferralApproval.referral_id.in_([r.id for r in referrals])
            )
        )
    }
    for referral in referrals:
        approval = approvals.get(referral.id)
        if approval is None:
            session.add(LegalReferralApproval(referral_id=referral.id))
        else:
            approval.held_until = None
            approval.asked_on = None
            approval.approval_flow_run_id = ""


def refer_by_hand(
    session: Session, ctx: RunContext, case: Case, as_of: date, actor: str
) -> tuple[LegalReferral, Action]:
    """An operator's referral: the same file and approval as the playbook's."""
    referral = session.scalar(
        select(LegalReferral).where(LegalReferral.case_id == case.id)
    )
    if referral is not None and referral.state in (
        ReferralState.PENDING,
        ReferralState.APPROVED,
    ):
        raise InvalidRequest(
            f"loan {case.loan_id!r} already has a legal referral "
            f"({referral.state} since {referral.referred_on})"
        )
    ledger.add_actions(
        session,
        [
            ledger.NewAction(
                case_id=case.id,
                loan_id=case.loan_id,
                kind="legal_referral",
                target=BORROWER,
                planned_on=as_of,
                rule="by-hand",
                template=ctx.playbook.legal_template,
            )
        ],
    )
    action = session.scalars(
        select(Action).where(
            Action.case_id == case.id,
            Action.kind == ActionKind.LEGAL_REFERRAL,
            Action.planned_on == as_of,
        )
    ).one()
    action.rule, action.state = "by-hand", ActionState.PLANNED
    (referral,) = refer_cases(session, ctx, [action], as_of, actor)
    return referral, action


# The legal file --------------------------------------------------------------


def build_legal_file(
    session: Session,
    ctx: RunContext,
    file: CaseFile,
    referral: LegalReferral,
    as_of: date,
    extra: FileHistory,
) -> Document:
    """Render the masked file (of record) and, if configured, legal's own copy."""
    config = ctx.legal
    rate = ctx.playbook.terms(file.loan.product).penalty_daily_rate
    tz = ZoneInfo(ctx.settings.timezone)
    template = ctx.playbook.legal_template
    masked = ctx.renderer.render(
        template,
        legal_file_context(file, ctx.lender.name, as_of, rate, referral, extra, tz),
    )
    key = f"legal-file:{file.case.id}:{as_of.isoformat()}"
    document = write_document(
        session,
        ctx.settings.outbox_dir,
        key=key,
        kind=LEGAL_FILE,
        for_date=as_of,
        body=masked,
        suffix="html",
        case_id=file.case.id,
        action_id=referral.action_id,
        recipient="legal",
    )
    if config.restricted_copy:
        full = ctx.renderer.render(
            template,
            legal_file_context(
                file, ctx.lender.name, as_of, rate, referral, extra, tz, full_ids=True
            ),
        )
        path, digest = write_restricted_copy(
            restricted_dir(ctx.settings.home), key, as_of, full
        )
        approval = session.get(LegalReferralApproval, referral.id)
        if approval is not None:
            approval.restricted_path, approval.restricted_hash = str(path), digest
    return document


def restricted_dir(home: Path) -> Path:
    return home / "legal-restricted"


def write_restricted_copy(
    folder: Path, key: str, as_of: date, body: str
) -> tuple[Path, str]:
    """Legal's own copy: a file only its owner can read; returns path and hash."""
    path = document_path(folder, as_of, RESTRICTED_FILE, key, "html")
    path.parent.mkdir(parents=True, exist_ok=True)
    for place in (folder, path.parent.parent, path.parent):
        os.chmod(place, 0o700)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(body)
    partial.replace(path)
    return path, hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass
class FileHistory:
    services: dict[int, list[NoticeService]]
    escalations: list[Escalation]


def _file_histories(session: Session, case_ids: list[int]) -> dict[int, FileHistory]:
    """Notice services and escalations of many cases, in two queries."""
    histories = {case_id: FileHistory(defaultdict(list), []) for case_id in case_ids}
    for case_id, service in session.execute(
        select(Notice.case_id, NoticeService)
        .join(Notice, Notice.id == NoticeService.notice_id)
        .where(Notice.case_id.in_(case_ids))
        .order_by(NoticeService.id)
    ):
        histories[case_id].services[service.notice_id].append(service)
    for escalation in session.scalars(
        select(Escalation)
        .where(Escalation.case_id.in_(case_ids))
        .order_by(Escalation.id)
    ):
        histories[escalation.case_id].escalations.append(escalation)
    return histories


def legal_file_context(
    file: CaseFile,
    lender: str,
    as_of: date,
    daily_rate: Decimal,
    referral: LegalReferral,
    history: FileHistory,
    tz: ZoneInfo,
    full_ids: bool = False,
) -> dict[str, Any]:
    """Every value the legal file prints, formatted; IDs masked unless ``full_ids``."""
    case, loan = file.case, file.loan

    def shown_id(value: str) -> str:
        return value if full_ids else mask_id(value)

    schedule = [(i.due_on, i.amount) for i in loan.installments]
    payments = [(p.paid_on, p.amount) for p in loan.payments if p.paid_on <= as_of]
    pos = position(schedule, payments, as_of, daily_rate)
    statuses = installment_rows(file, as_of, due_only=False)
    return {
        "lender": lender,
        "copy_label": "法务部门专用副本（含完整证件号码，限法务部门查阅）"
        if full_ids
        else "存档副本（证件号码已部分隐藏）",
        "case_id": case.id,
        "referral_id": referral.id,
        "referral_rule_label": RULE_LABELS.get(referral.reason, referral.reason),
        "loan_id": loan.id,
        "referred_on": cn_date(as_of),
        "borrower_name": file.borrower.name,
        "borrower_id_number": shown_id(file.borrower.id),
        "address": file.borrower.address or "—",
        "branch": loan.branch,
        "officer": loan.officer,
        "product": loan.product,
        "principal": "—" if loan.principal is None else file.money(loan.principal),
        "currency": loan.currency,
        "installment_count": len(loan.installments),
        "first_due_on": cn_date(schedule[0][0]) if schedule else "—",
        "last_due_on": cn_date(schedule[-1][0]) if schedule else "—",
        "daily_rate": f"{(daily_rate * 100).normalize():f}%",
        "arrears": file.money(pos.arrears),
        "penalty": file.money(pos.penalty),
        "total_due": file.money(pos.arrears + pos.penalty),
        "dpd": pos.dpd,
        "overdue_since": cn_date(case.overdue_since),
        "reason_label": REASON_LABELS[case.reason.value],
        "guarantors": [
            {
                "name": link.guarantor.name,
                "kind_label": GUARANTOR_KIND_LABELS[link.kind],
                "id_number": shown_id(link.guarantor.id),
                "phone": _masked_phone(link.guarantor.phone),
            }
            for link in file.guarantors
        ],
        "installments": statuses,
        "payments": [
            {"paid_on": cn_date(on), "amount": file.money(amount)}
            for on, amount in payments
        ],
        "actions": [
            {
                "id": a.id,
                "on": cn_date(a.planned_on),
                "at": _moment(a, tz),
                "kind_label": ACTION_KIND_LABELS[a.kind.value],
                "channel": a.channel or "—",
                "target": _target_label(file, a.target),
                "state": ACTION_STATE_LABELS[a.state.value],
                "outcome": a.outcome or a.skip_reason or "—",
                "officer": a.officer or loan.officer,
                "notes": a.notes or "",
            }
            for a in file.actions
            if a.planned_on <= as_of
        ],
        "promises": [
            {
                "made_on": cn_date(p.made_on),
                "promised_on": cn_date(p.promised_on),
                "amount": file.money(p.amount),
                "state_label": PROMISE_LABELS[p.state.value],
            }
            for p in file.promises
        ],
        "notices": [
            _notice_row(file, n, history.services.get(n.id, [])) for n in file.notices
        ],
        "escalations": [
            {
                "on": cn_date(e.on),
                "target_label": ESCALATION_LABELS.get(e.target, e.target),
                "reason": e.reason,
                "operator": e.operator,
            }
            for e in history.escalations
        ],
    }


def _moment(action: Action, tz: ZoneInfo) -> str:
    moment = action.finished_at or action.claimed_at
    return moment.astimezone(tz).strftime("%H:%M") if moment else "—"


def _masked_phone(number: str) -> str:
    if not number:
        return "—"
    return mask_phone(number) if number.startswith("+") else mask_id(number)


def _target_label(file: CaseFile, target: str) -> str:
    if target == BORROWER:
        return "借款人"
    link = file.guarantor(target.split(":", 1)[-1])
    return GUARANTOR_KIND_LABELS[link.kind] if link else target


def _notice_row(
    file: CaseFile, notice: Notice, services: list[NoticeService]
) -> dict[str, str]:
    served = next((s for s in reversed(services) if s.served), None)
    attempts = len(services)
    if served is not None:
        summary = f"{cn_date(served.attempted_on)}送达"
    elif notice.served_on:
        summary = f"{cn_date(notice.served_on)}送达"
    elif attempts:
        summary = "未能送达，已安排重新送达"
    else:
        summary = "未送达"
    return {
        "issued_on": cn_date(notice.issued_on),
        "kind_label": NOTICE_KIND_LABELS.get(notice.kind, notice.kind),
        "recipient": _target_label(file, notice.recipient),
        "served": summary,
        "served_by": served.served_by if served else (notice.served_by or "—"),
        "served_to": served.served_to if served else "—",
        "how_label": SERVICE_LABELS.get(
            served.how if served else notice.served_how, "—"
        ),
        "proof": served.proof if served else (notice.proof or "—"),
    }


# Approval --------------------------------------------------------------------


@dataclass(frozen=True)
class PendingReferral:
    referral_id: int
    case_id: int
    loan_id: str
    referred_on: date
    dpd: int
    arrears: str
    rule: str
    document_path: str
    content_hash: str


def pending_referrals(session: Session) -> list[PendingReferral]:
    """Every referral awaiting a decision, oldest first."""
    rows = session.execute(
        select(
            LegalReferral,
            Case.loan_id,
            Loan.currency,
            Document.path,
            Document.content_hash,
        )
        .join(Case, Case.id == LegalReferral.case_id)
        .join(Loan, Loan.id == Case.loan_id)
        .outerjoin(Document, Document.id == LegalReferral.document_id)
        .where(LegalReferral.state == ReferralState.PENDING)
        .order_by(LegalReferral.referred_on, LegalReferral.id)
    )
    return [
        PendingReferral(
            referral_id=referral.id,
            case_id=referral.case_id,
            loan_id=loan_id,
            referred_on=referral.referred_on,
            dpd=referral.dpd,
            arrears=money(referral.arrears, currency),
            rule=referral.reason,
            document_path=path or "",
            content_hash=content_hash or "",
        )
        for referral, loan_id, currency, path, content_hash in rows
    ]


def mark_asked(
    session: Session, referral_ids: Sequence[int], on: date, flow_run_id: str
) -> None:
    for referral_id in referral_ids:
        approval = session.get(LegalReferralApproval, referral_id)
        if approval is None:
            approval = LegalReferralApproval(referral_id=referral_id)
            session.add(approval)
        approval.asked_on = on
        approval.approval_flow_run_id = flow_run_id


def apply_decision(
    session: Session,
    referral_id: int,
    decision: str,
    *,
    reason: str = "",
    send_back_days: int | None = None,
    decided_by: str,
    on: date,
    flow_run_id: str = "",
    by_default: bool = False,
) -> str:
    """Record a supervisor's decision on a pending referral; return its new state."""
    choice, reason, days = check_decision(decision, reason, send_back_days)
    if not decided_by.strip():
        raise InvalidRequest("a decision needs the name of the supervisor giving it")
    referral = session.get(LegalReferral, referral_id)
    if referral is None:
        raise InvalidRequest(f"legal referral {referral_id} not found")
    if on < referral.referred_on:
        raise InvalidRequest(
            f"decision dated {on} is before referral {referral_id} was opened on "
            f"{referral.referred_on}"
        )
    if referral.state != ReferralState.PENDING:
        raise InvalidRequest(
            f"legal referral {referral_id} is {referral.state}, not pending: "
            "it was decided already"
        )
    if choice == Decision.HOLD:
        if by_default:
            ledger.audit(
                session,
                decided_by,
                "referral-unanswered",
                "case",
                referral.case_id,
                referral=referral.id,
                on=on.isoformat(),
                flow_run_id=flow_run_id,
            )
        return referral.state
    case = session.get_one(Case, referral.case_id)
    approval = session.get(LegalReferralApproval, referral.id)
    if approval is None:
        approval = LegalReferralApproval(referral_id=referral.id)
        session.add(approval)
    if choice == Decision.APPROVE:
        referral.state = ReferralState.APPROVED
        if case.state == CaseState.OPEN:
            case.state = CaseState.LEGAL
        ledger.cancel_for_cases(session, [case.id], on, "in-legal")
    elif choice == Decision.REJECT:
        referral.state = ReferralState.REJECTED
        case.referred_on = None
    else:
        assert days is not None
        referral.state = ReferralState.SENT_BACK
        approval.held_until = on + timedelta(days=days)
        case.referred_on = None
    session.add(
        ReferralDecision(
            referral_id=referral.id,
            decided_on=on,
            decision=choice.value,
            reason=reason,
            send_back_days=days,
            decided_by=decided_by,
            flow_run_id=flow_run_id,
            by_default=by_default,
        )
    )
    ledger.audit(
        session,
        decided_by,
        f"referral-{choice.value}",
        "case",
        case.id,
        loan=case.loan_id,
        referral=referral.id,
        on=on.isoformat(),
        reason=reason,
        send_back_days=days,
        flow_run_id=flow_run_id,
        by_default=by_default,
    )
    log.info(
        "referral %d (case %d): %s by %s%s",
        referral.id,
        case.id,
        choice.value,
        decided_by,
        " (default on timeout)" if by_default else "",
    )
    return referral.state


# Legal's recovery steps --------------------------------------------------------


@dataclass(frozen=True)
class StepRecord:
    step: str
    on: date
    recorded_by: str
    amount: Decimal | None = None
    reference: str = ""
    notes: str = ""
    # For an installment agreement: its parts, (due date, amount) in any order.
    parts: tuple[tuple[date, Decimal], ...] = ()


def record_legal_step(
    session: Session,
    loan_id: str,
    record: StepRecord,
    config: LegalConfig,
    playbook: Playbook,
) -> dict[str, Any]:
    """Record a recovery step of a case in legal; close or reopen it as it says."""
    get_loan(session, loan_id)
    effect = config.steps.get(record.step)
    if effect is None:
        raise InvalidRequest(
            f"legal step {record.step!r}: expected one of {sorted(config.steps)}"
        )
    if not record.recorded_by.strip():
        raise InvalidRequest("a legal step needs the name of who records it")
    case = current_case(session, loan_id)
    if case is None or case.state != CaseState.LEGAL:
        state = "no case" if case is None else f"a case in state {case.state}"
        raise InvalidRequest(
            f"loan {loan_id!r} has {state}; legal steps are recorded on cases "
            "approved for legal"
        )
    if effect == "close" and (record.amount is None or record.amount <= 0):
        raise InvalidRequest(
            f"{record.step} closes the case: give the settlement amount"
        )
    if effect == "reopen" and not record.parts:
        raise InvalidRequest(
            "an installment agreement needs its parts: due date and amount of each"
        )
    step = LegalStep(
        case_id=case.id,
        step=record.step,
        on=record.on,
        recorded_by=record.recorded_by,
        amount=record.amount,
        reference=record.reference,
        notes=record.notes,
        effect=effect,
    )
    session.add(step)
    session.flush()
    referral = session.scalar(
        select(LegalReferral).where(LegalReferral.case_id == case.id)
    )
    result: dict[str, Any] = {"case": case.id, "step": step.id, "effect": effect}
    if effect == "close":
        assert record.amount is not None
        session.add(
            Payment(
                id=f"legal-{step.id}-{record.step}",
                loan_id=loan_id,
                paid_on=record.on,
                amount=record.amount,
                source=record.step,
            )
        )
        session.flush()
        pos = position(
            session.execute(
                select(Installment.due_on, Installment.amount).where(
                    Installment.loan_id == loan_id
                )
            ).all(),
            session.execute(
                select(Payment.paid_on, Payment.amount).where(
                    Payment.loan_id == loan_id
                )
            ).all(),
            record.on,
        )
        if pos.arrears < playbook.min_overdue_amount:
            case.state = CaseState.RESOLVED
            case.resolved_on = record.on
            if referral is not None:
                referral.state = ReferralState.CLOSED
            from dunning.blacklist import blacklist_case

            blacklist_case(session, case, record.on, record.recorded_by)
            result["closed"] = True
        else:
            result["closed"] = False
            result["still_owing"] = str(pos.arrears)
    elif effect == "reopen":
        case.state = CaseState.OPEN
        if referral is not None:
            referral.state = ReferralState.AGREEMENT
        session.add(
            InstallmentAgreement(
                case_id=case.id,
                made_on=record.on,
                parts=[
                    {"due_on": d.isoformat(), "amount": str(a)}
                    for d, a in sorted(record.parts)
                ],
                made_by=record.recorded_by,
            )
        )
        result["reopened"] = True
    ledger.audit(
        session,
        record.recorded_by,
        f"legal-{record.step}",
        "case",
        case.id,
        loan=loan_id,
        step=step.id,
        on=record.on.isoformat(),
        effect=effect,
        reference=record.reference,
    )
    return result
