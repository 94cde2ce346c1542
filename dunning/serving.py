"""Serving a written notice: who served it on whom, how, and the proof.

A notice served in person needs the signed receipt's number; by registered mail,
the tracking number. A notice not served is planned again for the next working
day, and every attempt is kept for the legal file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunning import ledger
from dunning.errors import NotFound
from dunning.legal import next_working_day
from dunning.models import Action, ActionState, Notice, NoticeService
from dunning.operations import InvalidRequest, get_loan

HOW = ("in-person", "registered-mail")


@dataclass(frozen=True)
class ServiceRecord:
    on: date
    served: bool
    served_by: str
    served_to: str = ""
    how: str = ""
    proof: str = ""
    notes: str = ""


def check_service(record: ServiceRecord) -> None:
    if not record.served_by.strip():
        raise InvalidRequest("give the name of who served (or tried to serve) it")
    if not record.served:
        return
    if record.how not in HOW:
        raise InvalidRequest(f"served how {record.how!r}: expected one of {HOW}")
    if not record.served_to.strip():
        raise InvalidRequest("a served notice needs the name of who received it")
    if not record.proof.strip():
        what = "signed receipt" if record.how == "in-person" else "tracking number"
        raise InvalidRequest(f"a notice served {record.how} needs its {what}")


def notice_to_serve(session: Session, loan_id: str, notice_id: int | None) -> Notice:
    """The notice named, or the loan's latest notice not yet served."""
    get_loan(session, loan_id)
    query = (
        select(Notice)
        .join(Action, Action.id == Notice.action_id)
        .where(Action.loan_id == loan_id)
        .order_by(Notice.id.desc())
    )
    if notice_id is not None:
        notice = session.scalar(query.where(Notice.id == notice_id))
        if notice is None:
            raise NotFound(f"notice {notice_id} of loan {loan_id!r} not found")
        return notice
    notice = session.scalar(query.where(Notice.served_on.is_(None)).limit(1))
    if notice is None:
        raise NotFound(f"loan {loan_id!r} has no notice awaiting service")
    return notice


def record_service(
    session: Session, notice: Notice, record: ServiceRecord, actor: str
) -> dict[str, Any]:
    """Record one attempt; plan another for the next working day if it failed."""
    check_service(record)
    if notice.served_on is not None:
        raise InvalidRequest(
            f"notice {notice.id} was served already on {notice.served_on}"
        )
    action = session.get_one(Action, notice.action_id)
    service = NoticeService(
        notice_id=notice.id,
        attempted_on=record.on,
        served=record.served,
        served_by=record.served_by.strip(),
        served_to=record.served_to.strip(),
        how=record.how,
        proof=record.proof.strip(),
        notes=record.notes.strip()[:400],
    )
    session.add(service)
    result: dict[str, Any] = {"notice": notice.id, "served": record.served}
    if record.served:
        notice.served_on = record.on
        notice.served_by = service.served_by
        notice.served_how = record.how
        notice.proof = service.proof
        ledger.finish(action, ActionState.DONE, outcome="served")
    else:
        retry_on = next_working_day(record.on)
        ledger.finish(action, ActionState.FAILED, outcome="not-served")
        ledger.add_actions(
            session,
            [
                ledger.NewAction(
                    case_id=action.case_id,
                    loan_id=action.loan_id,
                    kind=action.kind.value,
                    target=action.target,
                    planned_on=retry_on,
                    rule="notice-retry",
                    template=action.template,
                    purpose=action.purpose,
                )
            ],
        )
        retry = session.scalars(
            select(Action).where(
                Action.case_id == action.case_id,
                Action.kind == action.kind,
                Action.target == action.target,
                Action.planned_on == retry_on,
            )
        ).one()
        service.retry_action_id = retry.id
        result.update(retry_on=retry_on.isoformat(), retry_action=retry.id)
    session.flush()
    ledger.audit(
        session,
        actor,
        "notice-served" if record.served else "notice-not-served",
        "notice",
        notice.id,
        case=notice.case_id,
        on=record.on.isoformat(),
        how=record.how,
        service=service.id,
    )
    return result
