"""Query functions over the ledger of actions. They take a session, never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dunning.models import Action, ActionKind, ActionState, AuditEntry, utcnow


@dataclass(frozen=True)
class NewAction:
    case_id: int
    loan_id: str
    kind: str
    target: str
    planned_on: date
    rule: str
    template: str
    purpose: str = ""
    state: str = ActionState.PLANNED
    skip_reason: str = ""


def upsert_insert(session: Session, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT for the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(
        f"dialect {name!r}: dunning runs on SQLite and PostgreSQL"
    )


def add_actions(
    session: Session, actions: Sequence[NewAction], chunk: int = 500
) -> int:
    """Record actions unless the ledger has them already; return how many are new.

    The unique key (case, kind, target, day) is what makes planning the same day
    twice harmless.
    """
    added = 0
    now = utcnow()
    for start in range(0, len(actions), chunk):
        rows = [
            {
                "case_id": a.case_id,
                "loan_id": a.loan_id,
                "kind": ActionKind(a.kind),
                "target": a.target,
                "planned_on": a.planned_on,
                "rule": a.rule,
                "template": a.template,
                "purpose": a.purpose,
                "state": ActionState(a.state),
                "skip_reason": a.skip_reason,
                "attempts": 0,
                "channel": "",
                "channel_ref": "",
                "outcome": "",
                "error": "",
                "officer": "",
                "notes": "",
                "created_at": now,
            }
            for a in actions[start : start + chunk]
        ]
        statement = (
            upsert_insert(session, Action.__table__)
            .values(rows)
            .on_conflict_do_nothing(
                index_elements=["case_id", "kind", "target", "planned_on"]
            )
        )
        added += session.execute(statement).rowcount or 0
    return added


def actions_of_day(
    session: Session, as_of: date, kind: str, states: Iterable[str]
) -> Select[tuple[Action]]:
    return (
        select(Action)
        .where(
            Action.planned_on == as_of,
            Action.kind == ActionKind(kind),
            Action.state.in_([ActionState(s) for s in states]),
        )
        .order_by(Action.id)
    )


def claim(session: Session, action_ids: Sequence[int], channel: str) -> None:
    """Mark actions as being carried out, before anything leaves the building."""
    if not action_ids:
        return
    session.execute(
        update(Action)
        .where(Action.id.in_(action_ids), Action.state == ActionState.PLANNED)
        .values(
            state=ActionState.CLAIMED,
            claimed_at=utcnow(),
            attempts=Action.attempts + 1,
            channel=channel,
        )
    )


def finish(
    action: Action,
    state: str,
    *,
    outcome: str = "",
    channel_ref: str = "",
    skip_reason: str = "",
    error: str = "",
    at: datetime | None = None,
) -> None:
    action.state = ActionState(state)
    if outcome:
        action.outcome = outcome
    if channel_ref:
        action.channel_ref = channel_ref
    if skip_reason:
        action.skip_reason = skip_reason
    if error:
        action.error = error[:400]
    action.finished_at = at or utcnow()


def cancel_expired(session: Session, before: date) -> int:
    """Planned actions of a day gone by are not carried out late: they expire."""
    result = session.execute(
        update(Action)
        .where(Action.planned_on < before, Action.state == ActionState.PLANNED)
        .values(
            state=ActionState.CANCELLED, skip_reason="expired", finished_at=utcnow()
        )
    )
    return result.rowcount or 0


def cancel_for_cases(
    session: Session, case_ids: Sequence[int], on_or_after: date, reason: str
) -> int:
    if not case_ids:
        return 0
    result = session.execute(
        update(Action)
        .where(
            Action.case_id.in_(case_ids),
            Action.planned_on >= on_or_after,
            Action.state == ActionState.PLANNED,
            Action.kind != ActionKind.LEGAL_REFERRAL,
        )
        .values(state=ActionState.CANCELLED, skip_reason=reason, finished_at=utcnow())
    )
    return result.rowcount or 0


def counts_by_kind_and_state(
    session: Session, first: date, last: date
) -> dict[str, dict[str, int]]:
    rows = session.execute(
        select(Action.kind, Action.state, func.count())
        .where(Action.planned_on >= first, Action.planned_on <= last)
        .group_by(Action.kind, Action.state)
    )
    counts: dict[str, dict[str, int]] = {}
    for kind, state, count in rows:
        counts.setdefault(str(kind.value), {})[str(state.value)] = count
    return counts


def audit(
    session: Session,
    actor: str,
    event: str,
    entity: str,
    entity_id: object,
    **detail: Any,
) -> None:
    session.add(
        AuditEntry(
            actor=actor,
            event=event,
            entity=entity,
            entity_id=str(entity_id),
            detail=detail,
        )
    )
