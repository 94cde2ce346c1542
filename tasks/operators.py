"""What operators, supervisors and the legal department do, as Prefect tasks.

Each loads, calls dunning's plain functions and records in one unit of work;
the artifacts carry loan numbers, states and amounts, never a person's name,
ID number or phone.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from sqlalchemy import select

from dunning import legal
from dunning.db import unit_of_work
from dunning.errors import DunningError
from dunning.models import Case, Document, LegalReferral
from dunning.settings import Settings

_KEY_UNSAFE = re.compile(r"[^a-z0-9-]+")


def artifact_key(*parts: str) -> str:
    """Prefect's artifact keys: lowercase letters, digits and dashes."""
    return _KEY_UNSAFE.sub("-", "-".join(parts).lower()).strip("-")


LINK_ARTIFACTS_PER_DAY = 25

# Referrals and their approval ---------------------------------------------------


def publish_referral_files(settings: Settings, as_of: date) -> int:
    """A link artifact per legal file written today, and one table of them."""
    with unit_of_work(settings.db_url) as session:
        rows = session.execute(
            select(LegalReferral, Case.loan_id, Document.path, Document.content_hash)
            .join(Case, Case.id == LegalReferral.case_id)
            .join(Document, Document.id == LegalReferral.document_id)
            .where(LegalReferral.referred_on == as_of)
            .order_by(LegalReferral.id)
        ).all()
    if not rows:
        return 0
    lines = [
        f"# Legal referrals of {as_of}",
        "",
        "Each waits for a supervisor's decision in the `legal-approval` run.",
        "",
        "| referral | loan | DPD | rule | state | legal file (sha256) |",
        "|---|---|---|---|---|---|",
    ]
    for number, (referral, loan_id, path, digest) in enumerate(rows):
        lines.append(
            f"| {referral.id} | {loan_id} | {referral.dpd} | {referral.reason} "
            f"| {referral.state} | [{digest[:12]}](file://{path}) |"
        )
        # The table lists every file; a link artifact of its own for each is
        # kept for ordinary days, since every artifact is a call to the server.
        if number >= LINK_ARTIFACTS_PER_DAY:
            continue
        create_link_artifact(
            link=f"file://{path}",
            link_text=f"legal file of loan {loan_id} ({digest[:12]})",
            key=artifact_key("legal-file", loan_id),
            description=f"Legal file of referral {referral.id}, sha256 {digest}",
        )
    create_markdown_artifact(
        key=artifact_key("legal-referrals", as_of.isoformat()),
        markdown="\n".join(lines),
        description=f"Legal referrals opened on {as_of}",
    )
    return len(rows)


@task(name="open-approval-batch")
def open_approval_batch(
    settings: Settings, as_of: date, flow_run_id: str
) -> list[dict[str, Any]]:
    """The pending referrals to ask about, marked as asked in this run."""
    with unit_of_work(settings.db_url) as session:
        pending = legal.pending_referrals(session)
        legal.mark_asked(session, [p.referral_id for p in pending], as_of, flow_run_id)
    batch = [
        {
            "referral": p.referral_id,
            "loan": p.loan_id,
            "referred_on": p.referred_on.isoformat(),
            "dpd": p.dpd,
            "arrears": p.arrears,
            "rule": p.rule,
            "file": p.document_path,
            "sha256": p.content_hash,
        }
        for p in pending
    ]
    if batch:
        lines = [
            f"# Referrals awaiting approval, {as_of}",
            "",
            "Answer in this run's form (Resume): approve, reject with a reason, "
            "send-back with a number of days, or hold for tomorrow's batch.",
            "",
            "| referral | loan | referred | DPD | arrears | rule | legal file |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['referral']} | {r['loan']} | {r['referred_on']} | {r['dpd']} "
            f"| {r['arrears']} | {r['rule']} "
            f"| [{r['sha256'][:12]}](file://{r['file']}) |"
            for r in batch
        ]
        create_markdown_artifact(
            key=artifact_key("legal-approval", as_of.isoformat()),
            markdown="\n".join(lines),
            description=f"Referrals awaiting approval on {as_of}",
        )
    return batch


@task(name="apply-approvals")
def apply_approvals(
    settings: Settings,
    as_of: date,
    decisions: list[dict[str, Any]],
    decided_by: str,
    flow_run_id: str,
    by_default: bool = False,
) -> dict[str, Any]:
    """Record each decision in its own unit of work; a bad one is held, and said."""
    counts: dict[str, int] = {}
    refused: list[str] = []
    for item in decisions:
        try:
            with unit_of_work(settings.db_url) as session:
                legal.apply_decision(
                    session,
                    int(item["referral"]),
                    str(item["decision"]),
                    reason=str(item.get("reason") or ""),
                    send_back_days=item.get("send_back_days"),
                    decided_by=decided_by,
                    on=as_of,
                    flow_run_id=flow_run_id,
                    by_default=by_default,
                )
        except DunningError as exc:
            refused.append(f"referral {item['referral']}: {exc}")
            counts["refused"] = counts.get("refused", 0) + 1
            continue
        counts[str(item["decision"])] = counts.get(str(item["decision"]), 0) + 1
    if refused:
        create_markdown_artifact(
            key=artifact_key("legal-approval-refused", as_of.isoformat()),
            markdown="# Decisions not applied\n\nThese referrals stay pending "
            "and come back in the next batch:\n\n"
            + "\n".join(f"- {line}" for line in refused),
            description="Decisions the approval run could not apply",
        )
    return {"decisions": counts, "refused": refused}


# The operators' console ------------------------------------------------------------


def tag_this_run(*tags: str) -> None:
    """Add tags (branch, product) to the running flow run, for the UI's filters."""
    from prefect import get_client
    from prefect.runtime import flow_run

    if not flow_run.id:
        return
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run.id)
        client.update_flow_run(flow_run.id, tags=sorted({*(run.tags or []), *tags}))


def loan_tags(settings: Settings, loan_id: str) -> list[str]:
    from dunning.models import Loan

    with unit_of_work(settings.db_url) as session:
        loan = session.get(Loan, loan_id)
        if loan is None:
            return []
        return [f"branch:{loan.branch}", f"product:{loan.product}"]


@task(name="escalate")
def escalate(
    settings: Settings,
    ref: str,
    target: str,
    reason: str,
    operator: str,
    on: date,
    flow_run_id: str,
) -> dict[str, Any]:
    from dunning import daily
    from dunning.escalation import FIELD_VISIT_TODAY, EscalationRequest
    from dunning.escalation import escalate as escalate_case

    ctx = daily.RunContext(settings)
    request = EscalationRequest(ref, target, reason, operator, on, flow_run_id)
    with unit_of_work(settings.db_url) as session:
        result = escalate_case(session, ctx, request)
    if result["target"] == FIELD_VISIT_TODAY:
        # The officer gets the visit on a sheet now, not at tomorrow's run.
        result["sheets"] = daily.issue_visit_sheets(ctx, on)["sheets"]
    if "referral" in result:
        publish_referral_files(settings, on)
    return result


@task(name="record-outcome")
def record_outcome(
    settings: Settings, loan: str, outcome: Any, actor: str
) -> dict[str, Any]:
    from dunning.operations import record_outcome as record

    with unit_of_work(settings.db_url) as session:
        return record(session, loan, outcome, actor)


@task(name="serve-notice")
def serve_notice(
    settings: Settings, loan: str, notice_id: int | None, record: Any, actor: str
) -> dict[str, Any]:
    from dunning.serving import notice_to_serve, record_service

    with unit_of_work(settings.db_url) as session:
        notice = notice_to_serve(session, loan, notice_id)
        return record_service(session, notice, record, actor)


@task(name="case-timeline")
def publish_timeline(settings: Settings, loan: str) -> str:
    from dunning.timeline import case_timeline

    with unit_of_work(settings.db_url) as session:
        markdown = case_timeline(session, loan)
    create_markdown_artifact(
        key=artifact_key("case-timeline", loan),
        markdown=markdown,
        description=f"Whole history of loan {loan}'s cases",
    )
    return markdown


@task(name="record-legal-step")
def record_legal_step(settings: Settings, loan: str, record: Any) -> dict[str, Any]:
    from dunning import daily

    ctx = daily.RunContext(settings)
    config = legal.load_legal_config(settings.config_dir / "legal.yaml")
    with unit_of_work(settings.db_url) as session:
        return legal.record_legal_step(session, loan, record, config, ctx.playbook)
