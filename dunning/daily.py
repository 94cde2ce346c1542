"""The steps of one daily run, as plain functions over a run context.

Each step is safe to run again for the same date: what the ledger already
holds is neither planned nor carried out a second time. Tasks in ``tasks/``
call these and nothing else.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dunning import ledger
from dunning.cases import day_plans, record_plans, refresh_cases
from dunning.channels import Channel, OutgoingCall, OutgoingText, Receipt
from dunning.channels.outbox import OutboxChannel
from dunning.contexts import (
    CaseFile,
    Lender,
    call_context,
    guarantor_notice_context,
    legal_context,
    load_case_files,
    notice_context,
    sms_context,
    visit_entry,
)
from dunning.db import unit_of_work
from dunning.documents import write_document
from dunning.errors import (
    ConfigError,
    PermanentChannelError,
    RunOrderError,
    TransientChannelError,
)
from dunning.formatting import cn_date, sms_segments
from dunning.models import (
    Action,
    ActionKind,
    ActionState,
    BlacklistEntry,
    Case,
    CaseDay,
    CaseState,
    DailyRun,
    LegalReferral,
    Notice,
    Phone,
    Guarantor,
    Promise,
    PromiseState,
    utcnow,
)
from dunning.playbook import Playbook, load_playbook
from dunning.render import Renderer
from dunning.settings import Settings

log = logging.getLogger("dunning.daily")

DPD_BUCKETS = (("1-3", 1, 3), ("4-6", 4, 6), ("7-29", 7, 29), ("30-89", 30, 89))
OVER_90 = "90+"
SEND_BATCH = 200


@dataclass(frozen=True)
class RunContext:
    """What every step needs, built once from the settings."""

    settings: Settings

    @cached_property
    def playbook(self) -> Playbook:
        return load_playbook(self.settings.playbook_path)

    @cached_property
    def lender(self) -> Lender:
        return Lender.load(self.settings.config_dir / "lender.yaml")

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer(self.settings.templates_dir)

    @property
    def url(self) -> str:
        return self.settings.db_url

    def channel(self) -> Channel:
        if self.settings.channel == "outbox":
            return OutboxChannel(self.url, self.settings.outbox_dir)
        raise ConfigError(
            f"DUNNING_CHANNEL={self.settings.channel!r}: expected 'outbox'"
        )


# Start and refresh ---------------------------------------------------------


def begin_run(ctx: RunContext, as_of: date, flow_run_id: str = "") -> None:
    """Record the run; refuse a date before one already run (cases move forward)."""
    with unit_of_work(ctx.url) as session:
        latest = session.scalar(select(func.max(DailyRun.as_of)))
        if latest is not None and as_of < latest:
            raise RunOrderError(
                f"daily run for {as_of} refused: the run for {latest} has already "
                "happened and cases only move forward; run a date on or after it, "
                "or replay into a fresh database"
            )
        run = session.get(DailyRun, as_of)
        if run is None:
            session.add(
                DailyRun(as_of=as_of, started_at=utcnow(), flow_run_id=flow_run_id)
            )
        else:
            run.started_at, run.finished_at = utcnow(), None
            run.flow_run_id = flow_run_id or run.flow_run_id


def refresh(ctx: RunContext, as_of: date) -> dict[str, int]:
    with unit_of_work(ctx.url) as session:
        result = refresh_cases(session, as_of, ctx.playbook)
    log.info(
        "refreshed %d cases on %s: %d opened, %d resolved",
        result.refreshed,
        as_of,
        len(result.opened),
        len(result.resolved),
    )
    return {
        "refreshed": result.refreshed,
        "opened": len(result.opened),
        "resolved": len(result.resolved),
        "promises_kept": result.promises_kept,
        "promises_broken": result.promises_broken,
        "expired": result.expired,
    }


def plan(ctx: RunContext, as_of: date) -> dict[str, int]:
    with unit_of_work(ctx.url) as session:
        plans = day_plans(session, as_of, ctx.playbook)
        added = record_plans(session, as_of, plans)
    return {"cases": len(plans), "new_actions": added}


# Calls and texts -----------------------------------------------------------


def message_key(action: Action) -> str:
    return f"{action.kind.value}:{action.id}"


def carry_out_contacts(ctx: RunContext, as_of: date, kind: str) -> dict[str, int]:
    """Calls or texts of the day: reconcile unsure claims, claim, send, record."""
    channel = ctx.channel()
    counts: Counter[str] = Counter()

    # A claim with no outcome may or may not have gone out before a crash; the
    # channel is asked, and only what it never received is sent.
    with unit_of_work(ctx.url) as session:
        unsure = list(
            session.scalars(
                select(Action).where(
                    Action.kind == ActionKind(kind),
                    Action.state == ActionState.CLAIMED,
                )
            )
        )
        resend = []
        for action in unsure:
            receipt = channel.find_sent(message_key(action))
            if receipt is None:
                resend.append(action.id)
            else:
                _record_receipt(action, channel.name, receipt)
                counts["reconciled"] += 1

    with unit_of_work(ctx.url) as session:
        planned = list(
            session.scalars(
                select(Action.id).where(
                    Action.planned_on == as_of,
                    Action.kind == ActionKind(kind),
                    Action.state == ActionState.PLANNED,
                )
            )
        )
        ledger.claim(session, planned, channel.name)

    todo = resend + planned
    for start in range(0, len(todo), SEND_BATCH):
        batch = todo[start : start + SEND_BATCH]
        with unit_of_work(ctx.url) as session:
            outgoing = _build_messages(ctx, session, batch, kind, counts)
        for action_id, message in outgoing:
            _send(ctx, channel, action_id, message, counts)
    return dict(counts)


def _build_messages(
    ctx: RunContext,
    session: Session,
    action_ids: list[int],
    kind: str,
    counts: Counter[str],
) -> list[tuple[int, OutgoingCall | OutgoingText]]:
    actions = list(session.scalars(select(Action).where(Action.id.in_(action_ids))))
    files = load_case_files(session, [a.case_id for a in actions])
    outgoing: list[tuple[int, OutgoingCall | OutgoingText]] = []
    for action in actions:
        file = files[action.case_id]
        to = file.phone_for(action.target, texting=kind == "sms")
        if to is None:
            ledger.finish(action, ActionState.SKIPPED, skip_reason="no-usable-phone")
            counts["skipped"] += 1
            continue
        common = {
            "key": message_key(action),
            "action_id": action.id,
            "case_id": action.case_id,
            "for_date": action.planned_on.isoformat(),
            "to": to,
        }
        if kind == "call":
            script = ctx.renderer.render(
                action.template, call_context(file, ctx.lender)
            )
            outgoing.append((action.id, OutgoingCall(script=script, **common)))
        else:
            body = ctx.renderer.render(action.template, sms_context(file, ctx.lender))
            outgoing.append(
                (
                    action.id,
                    OutgoingText(body=body, segments=sms_segments(body), **common),
                )
            )
    return outgoing


def _send(
    ctx: RunContext,
    channel: Channel,
    action_id: int,
    message: OutgoingCall | OutgoingText,
    counts: Counter[str],
) -> None:
    try:
        if isinstance(message, OutgoingCall):
            receipt = channel.place_call(message)
        else:
            receipt = channel.send_text(message)
    except TransientChannelError as exc:
        # Nothing went out: the action goes back to planned for a retry.
        with unit_of_work(ctx.url) as session:
            action = session.get_one(Action, action_id)
            action.state = ActionState.PLANNED
            action.error = str(exc)[:400]
        counts["retry_later"] += 1
        log.warning("action %d: transient channel error, will retry", action_id)
        return
    except PermanentChannelError as exc:
        with unit_of_work(ctx.url) as session:
            action = session.get_one(Action, action_id)
            ledger.finish(action, ActionState.FAILED, error=str(exc))
            _mark_contact(session, message.to, exc.contact_status)
        counts["failed"] += 1
        log.error("action %d: permanent channel error: %s", action_id, exc)
        return
    with unit_of_work(ctx.url) as session:
        _record_receipt(session.get_one(Action, action_id), channel.name, receipt)
    counts["done"] += 1
    log.info("action %d (case %d) sent as %s", action_id, message.case_id, receipt.ref)


def _record_receipt(action: Action, channel: str, receipt: Receipt) -> None:
    action.channel = channel
    ledger.finish(
        action, ActionState.DONE, outcome=receipt.status, channel_ref=receipt.ref
    )


def _mark_contact(session: Session, number: str, status: str) -> None:
    for phone in session.scalars(select(Phone).where(Phone.number == number)):
        phone.status = status
    for person in session.scalars(select(Guarantor).where(Guarantor.phone == number)):
        person.phone_status = status


# Work for people -----------------------------------------------------------


def issue_visit_sheets(ctx: RunContext, as_of: date) -> dict[str, int]:
    """One field-visit sheet per officer and day, listing that day's visits."""
    with unit_of_work(ctx.url) as session:
        actions = list(
            session.scalars(ledger.actions_of_day(session, as_of, "visit", ["planned"]))
        )
        if not actions:
            return {"sheets": 0, "visits": 0}
        files = load_case_files(session, [a.case_id for a in actions])
        promises = _pending_promise_labels(session, [a.case_id for a in actions])
        by_officer: dict[tuple[str, str], list[Action]] = defaultdict(list)
        for action in actions:
            loan = files[action.case_id].loan
            by_officer[(loan.branch, loan.officer)].append(action)

        for (branch, officer), visits in sorted(by_officer.items()):
            body = ctx.renderer.render(
                "visit/sheet.html",
                {
                    "lender": ctx.lender.name,
                    "branch": branch,
                    "officer": officer,
                    "visit_date": cn_date(as_of),
                    "visits": [
                        visit_entry(
                            files[a.case_id],
                            a.purpose,
                            promises.get(a.case_id, ""),
                        )
                        for a in visits
                    ],
                },
            )
            document = write_document(
                session,
                ctx.settings.outbox_dir,
                key=f"visit-sheet:{as_of}:{branch}:{officer}:{visits[0].id}",
                kind="visit-sheet",
                for_date=as_of,
                body=body,
                suffix="html",
                recipient=officer,
            )
            for action in visits:
                action.officer = officer
                action.channel = "outbox"
                ledger.finish(
                    action,
                    ActionState.ISSUED,
                    outcome="sheet-issued",
                    channel_ref=f"doc-{document.id}",
                )
        return {"sheets": len(by_officer), "visits": len(actions)}


def _pending_promise_labels(session: Session, case_ids: list[int]) -> dict[int, str]:
    labels: dict[int, str] = {}
    for promise in session.scalars(
        select(Promise).where(
            Promise.case_id.in_(case_ids), Promise.state == PromiseState.PENDING
        )
    ):
        labels[promise.case_id] = f"承诺{cn_date(promise.promised_on)}还款"
    return labels


def issue_notices(ctx: RunContext, as_of: date, kind: str) -> dict[str, int]:
    """Overdue notices (kind ``notice``) or guarantor notices, one per action."""
    with unit_of_work(ctx.url) as session:
        actions = list(
            session.scalars(ledger.actions_of_day(session, as_of, kind, ["planned"]))
        )
        files = load_case_files(session, [a.case_id for a in actions])
        issued = skipped = 0
        for action in actions:
            file = files[action.case_id]
            body, notice_kind = _render_notice(ctx, file, action, as_of)
            if body is None:
                ledger.finish(action, ActionState.SKIPPED, skip_reason="no-guarantor")
                skipped += 1
                continue
            document = write_document(
                session,
                ctx.settings.outbox_dir,
                key=f"{notice_kind}-notice:{action.id}",
                kind=f"{notice_kind}-notice",
                for_date=as_of,
                body=body,
                suffix="html",
                case_id=action.case_id,
                action_id=action.id,
                recipient=action.target,
            )
            if (
                session.scalar(select(Notice.id).where(Notice.action_id == action.id))
                is None
            ):
                session.add(
                    Notice(
                        case_id=action.case_id,
                        action_id=action.id,
                        kind=notice_kind,
                        recipient=action.target,
                        issued_on=as_of,
                        document_id=document.id,
                    )
                )
            action.officer = file.loan.officer
            action.channel = "outbox"
            ledger.finish(
                action,
                ActionState.ISSUED,
                outcome="notice-issued",
                channel_ref=f"doc-{document.id}",
            )
            issued += 1
        return {"issued": issued, "skipped": skipped}


def _render_notice(
    ctx: RunContext, file: CaseFile, action: Action, as_of: date
) -> tuple[str | None, str]:
    notice = {
        "lender": ctx.lender,
        "as_of": as_of,
        "notice_no": f"{as_of:%Y%m%d}-{action.id:06d}",
        "daily_rate": ctx.playbook.terms(file.loan.product).penalty_daily_rate,
    }
    if action.kind == ActionKind.NOTICE:
        return ctx.renderer.render(action.template, notice_context(file, **notice)), (
            "overdue"
        )
    link = file.guarantor(action.target.split(":", 1)[-1])
    if link is None:
        return None, "guarantor"
    context = guarantor_notice_context(file, link, action.purpose, **notice)
    return ctx.renderer.render(action.template, context), "guarantor"


# Legal and blacklist -------------------------------------------------------


def refer_to_legal(ctx: RunContext, as_of: date) -> dict[str, int]:
    """Open a legal referral for each case the playbook sent to legal today."""
    with unit_of_work(ctx.url) as session:
        actions = list(
            session.scalars(
                ledger.actions_of_day(session, as_of, "legal_referral", ["planned"])
            )
        )
        files = load_case_files(session, [a.case_id for a in actions], history=True)
        for action in actions:
            file = files[action.case_id]
            case = file.case
            body = ctx.renderer.render(
                action.template, legal_context(file, ctx.lender, as_of)
            )
            document = write_document(
                session,
                ctx.settings.outbox_dir,
                key=f"legal-referral:{case.id}",
                kind="legal-referral",
                for_date=as_of,
                body=body,
                suffix="html",
                case_id=case.id,
                action_id=action.id,
                recipient="legal",
            )
            referral = session.scalar(
                select(LegalReferral).where(LegalReferral.case_id == case.id)
            )
            if referral is None:
                session.add(
                    LegalReferral(
                        case_id=case.id,
                        action_id=action.id,
                        referred_on=as_of,
                        dpd=case.dpd,
                        arrears=case.arrears,
                        penalty=case.penalty,
                        reason=action.rule,
                        document_id=document.id,
                    )
                )
            case.state = CaseState.LEGAL
            case.referred_on = as_of
            action.channel = "outbox"
            ledger.finish(
                action,
                ActionState.DONE,
                outcome="referred",
                channel_ref=f"doc-{document.id}",
            )
            ledger.audit(
                session,
                "daily-run",
                "legal-referral",
                "case",
                case.id,
                loan=case.loan_id,
                on=as_of.isoformat(),
                dpd=case.dpd,
                rule=action.rule,
            )
        ledger.cancel_for_cases(
            session, [a.case_id for a in actions], as_of, "referred-to-legal"
        )
        return {"referred": len(actions)}


def blacklist_resolved(ctx: RunContext, as_of: date) -> dict[str, int]:
    """Blacklist borrowers whose long-overdue or legal case was resolved today."""
    threshold = ctx.playbook.blacklist_threshold_dpd
    with unit_of_work(ctx.url) as session:
        listed = set(session.scalars(select(BlacklistEntry.case_id)))
        cases = session.scalars(
            select(Case).where(
                Case.state == CaseState.RESOLVED,
                Case.resolved_on == as_of,
                (Case.max_dpd >= threshold) | Case.referred_on.is_not(None),
            )
        )
        added = 0
        for case in cases:
            if case.id in listed:
                continue
            reason = (
                f"resolved after legal referral on {case.referred_on}"
                if case.referred_on
                else f"resolved after reaching DPD {case.max_dpd}"
            )
            session.add(
                BlacklistEntry(
                    borrower_id=case.loan.borrower_id,
                    case_id=case.id,
                    listed_on=as_of,
                    reason=reason,
                )
            )
            ledger.audit(
                session,
                "daily-run",
                "blacklisted",
                "case",
                case.id,
                loan=case.loan_id,
                reason=reason,
            )
            added += 1
        return {"blacklisted": added}


# Summary -------------------------------------------------------------------


def summarise(session: Session, first: date, last: date) -> dict[str, Any]:
    """Actions by kind and state over the days, and where cases stand on ``last``."""
    buckets = {name: 0 for name, _, _ in DPD_BUCKETS} | {OVER_90: 0}
    in_legal = 0
    rows = session.execute(
        select(CaseDay.dpd, Case.referred_on)
        .join(Case, Case.id == CaseDay.case_id)
        .where(
            CaseDay.on == last,
            (Case.resolved_on.is_(None)) | (Case.resolved_on > last),
        )
    )
    for dpd, referred_on in rows:
        buckets[bucket_of(dpd)] += 1
        in_legal += referred_on is not None and referred_on <= last
    between = (first, last)
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "actions": ledger.counts_by_kind_and_state(session, first, last),
        "open_by_dpd": buckets,
        "open": sum(buckets.values()),
        "in_legal": in_legal,
        "resolved": _count(session, Case.resolved_on, between),
        "referred": _count(session, LegalReferral.referred_on, between),
        "blacklisted": _count(session, BlacklistEntry.listed_on, between),
    }


def bucket_of(dpd: int) -> str:
    for name, low, high in DPD_BUCKETS:
        if low <= dpd <= high:
            return name
    return OVER_90 if dpd >= 90 else "1-3"


def _count(session: Session, column: Any, between: tuple[date, date]) -> int:
    return (
        session.scalar(
            select(func.count()).where(column >= between[0], column <= between[1])
        )
        or 0
    )


def finish_run(ctx: RunContext, as_of: date) -> dict[str, Any]:
    with unit_of_work(ctx.url) as session:
        summary = summarise(session, as_of, as_of)
        run = session.get_one(DailyRun, as_of)
        run.finished_at = utcnow()
        run.summary = summary
    return summary


def latest_run(session: Session) -> date | None:
    return session.scalar(
        select(func.max(DailyRun.as_of)).where(DailyRun.finished_at.is_not(None))
    )
