"""The steps of one daily run, as plain functions over a run context.

Each step is safe to run again for the same date: what the ledger already
holds is neither planned nor carried out a second time. Tasks in ``tasks/``
call these and nothing else.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dunning import ledger, sms
from dunning.blacklist import blacklist_resolved as list_resolved
from dunning.cases import day_plans, record_plans, refresh_cases
from dunning.channels import Channel, OutgoingCall, OutgoingText, Receipt
from dunning.channels.outbox import OutboxChannel
from dunning.contexts import (
    CaseFile,
    Lender,
    call_context,
    guarantor_notice_context,
    load_case_files,
    notice_context,
    sms_context,
    visit_entry,
)
from dunning.db import require_current_schema, unit_of_work
from dunning.documents import write_document
from dunning.errors import (
    ConfigError,
    PermanentChannelError,
    RunOrderError,
    TransientChannelError,
    UnsureSendError,
)
from dunning.formatting import cn_date, sms_segments
from dunning.legal import (
    LegalConfig,
    load_legal_config,
    refer_cases,
    with_legal_facts,
)
from dunning.models import (
    Action,
    ActionKind,
    ActionState,
    BlacklistEntry,
    Case,
    CaseDay,
    CaseState,
    DailyRun,
    Guarantor,
    LegalReferral,
    Notice,
    Phone,
    Promise,
    PromiseState,
    ReferralState,
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
    # Called with "call" or "sms" before each one leaves: the per-channel rate.
    throttle: Callable[[str], None] | None = None

    @cached_property
    def playbook(self) -> Playbook:
        return load_playbook(self.settings.playbook_path)

    @cached_property
    def legal(self) -> LegalConfig:
        return load_legal_config(self.settings.config_dir / "legal.yaml")

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
        name = self.settings.channel_name
        if name == "outbox":
            return OutboxChannel(self.url, self.settings.outbox_dir)
        if name == "twilio":
            from dunning.channels.twilio import TwilioChannel, TwilioConfig

            return TwilioChannel(
                self.url,
                self.settings.outbox_dir,
                TwilioConfig.from_settings(self.settings),
                throttle=self.throttle,
            )
        raise ConfigError(
            f"DUNNING_CHANNEL={self.settings.channel!r}: expected 'auto', 'outbox' "
            "or 'twilio'"
        )


# Start and refresh ---------------------------------------------------------


def begin_run(ctx: RunContext, as_of: date, flow_run_id: str = "") -> None:
    """Record the run, once the date is one the ledger can move forward to."""
    require_current_schema(ctx.url)
    with unit_of_work(ctx.url) as session:
        check_run_order(session, as_of)
        run = session.get(DailyRun, as_of)
        if run is None:
            session.add(
                DailyRun(as_of=as_of, started_at=utcnow(), flow_run_id=flow_run_id)
            )
        else:
            run.started_at, run.finished_at = utcnow(), None
            run.flow_run_id = flow_run_id or run.flow_run_id


def check_run_order(session: Session, as_of: date) -> None:
    """Cases only move forward, and a day left half done is finished first."""
    latest = session.scalar(select(DailyRun).order_by(DailyRun.as_of.desc()).limit(1))
    if latest is None:
        return
    if as_of < latest.as_of:
        raise RunOrderError(
            f"daily run for {as_of} refused: the run for {latest.as_of} has already "
            "happened and cases only move forward; run a date on or after it, "
            "or replay into a fresh database"
        )
    if as_of > latest.as_of and latest.finished_at is None:
        raise RunOrderError(
            f"daily run for {as_of} refused: the run for {latest.as_of} started but "
            f"did not finish; run it again first (dunning run --as-of "
            f"{latest.as_of}) so that its visits, notices and referrals are not lost"
        )


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
        plans = with_legal_facts(
            session, as_of, ctx.playbook, day_plans(session, as_of, ctx.playbook)
        )
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
        case_states = {
            case_id: state
            for case_id, state in session.execute(
                select(Case.id, Case.state).where(
                    Case.id.in_({a.case_id for a in unsure})
                )
            )
        }
        resend = []
        for action in unsure:
            try:
                receipt = channel.find_sent(message_key(action))
            except UnsureSendError:
                # Too soon to tell: it stays claimed, and is asked about again.
                counts["still_unsure"] += 1
                continue
            if receipt is not None:
                _record_receipt(action, channel.name, receipt)
                counts["reconciled"] += 1
            elif action.planned_on < as_of:
                # Never sent, and its day is gone: a late call would read out
                # stale amounts on top of today's own call.
                ledger.finish(action, ActionState.CANCELLED, skip_reason="expired")
                counts["expired"] += 1
            elif case_states[action.case_id] != CaseState.OPEN:
                ledger.finish(
                    action, ActionState.CANCELLED, skip_reason="case-not-in-collection"
                )
                counts["cancelled"] += 1
            else:
                resend.append(action.id)

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
    texts_in_batch: Counter[tuple[str, str]] = Counter()  # text rules
    for action in actions:
        file = files[action.case_id]
        to = file.phone_for(action.target, texting=kind == "sms")
        if to is None:
            reason = file.why_unreachable(action.target, texting=kind == "sms")
            ledger.finish(action, ActionState.SKIPPED, skip_reason=reason)
            counts["skipped"] += 1
            continue
        if file.synthetic(action.target) and ctx.settings.channel_name != "outbox":
            # Made-up contacts (a demo's, an adapter's) never reach a real line.
            ledger.finish(action, ActionState.SKIPPED, skip_reason="synthetic-contact")
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
            # Text rules ---------------------------------------------------
            action.segments = segments = sms_segments(body)
            refused = sms.refusal(
                session,
                action.id,
                to,
                body,
                segments,
                utcnow(),
                ctx.settings.sms_max_segments,
                queued=texts_in_batch[(to, body)],
            )
            if refused:
                ledger.finish(action, ActionState.SKIPPED, skip_reason=refused)
                counts["skipped"] += 1
                continue
            texts_in_batch[(to, body)] += 1
            # ----------------------------------------------------------------
            outgoing.append(
                (
                    action.id,
                    OutgoingText(body=body, segments=segments, **common),
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


# Channel statuses ----------------------------------------------------------


def reconcile_statuses(
    ctx: RunContext, now: datetime | None = None, deadline_minutes: int | None = None
) -> dict[str, int]:
    """Ask the channel what became of calls and texts still open past a deadline.

    Without a public webhook this is how outcomes reach the ledger; with one,
    it catches the callbacks that never arrived.
    """
    from dunning.channels.twilio import (
        StatusSource,
        advance_status,
        is_final,
        record_found,
    )

    channel = ctx.channel()
    if not isinstance(channel, StatusSource):
        return {}
    if deadline_minutes is None:
        deadline_minutes = ctx.settings.status_deadline_minutes
    deadline = (now or utcnow()) - timedelta(minutes=deadline_minutes)
    counts: Counter[str] = Counter()
    with unit_of_work(ctx.url) as session:
        actions = list(
            session.scalars(
                select(Action).where(
                    Action.channel == channel.name,
                    Action.kind.in_([ActionKind.CALL, ActionKind.SMS]),
                    Action.state.in_([ActionState.DONE, ActionState.CLAIMED]),
                    func.coalesce(Action.finished_at, Action.claimed_at) < deadline,
                )
            )
        )
    for action in actions:
        if action.state == ActionState.CLAIMED:
            receipt = channel.find_sent(message_key(action))
            if receipt is None:
                continue
            with unit_of_work(ctx.url) as session:
                record_found(session.get_one(Action, action.id), receipt)
            counts["found"] += 1
            continue
        if is_final(action.kind, action.channel_status) or not action.channel_ref:
            continue
        receipt = channel.fetch_status(action.channel_ref)
        with unit_of_work(ctx.url) as session:
            if advance_status(session.get_one(Action, action.id), receipt.status):
                counts["updated"] += 1
        counts["fetched"] += 1
    return dict(counts)


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
    """Open a referral for each case the playbook sent to legal today.

    The referral waits for a supervisor (``flows/legal_approval.py``): contact
    stops now, and the case becomes legal's on approval.
    """
    with unit_of_work(ctx.url) as session:
        actions = list(
            session.scalars(
                ledger.actions_of_day(session, as_of, "legal_referral", ["planned"])
            )
        )
        refer_cases(session, ctx, actions, as_of, "daily-run")
        return {"referred": len(actions)}


def blacklist_resolved(ctx: RunContext, as_of: date) -> dict[str, int]:
    """Blacklist borrowers whose long-overdue or legal case was resolved today."""
    with unit_of_work(ctx.url) as session:
        added = list_resolved(session, as_of, ctx.playbook.blacklist_threshold_dpd)
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
        # Today's state of the referrals: a supervisor has yet to decide these.
        "awaiting_approval": session.scalar(
            select(func.count())
            .select_from(LegalReferral)
            .join(Case, Case.id == LegalReferral.case_id)
            .where(
                LegalReferral.state == ReferralState.PENDING,
                LegalReferral.referred_on <= last,
                (Case.resolved_on.is_(None)) | (Case.resolved_on > last),
            )
        )
        or 0,
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
