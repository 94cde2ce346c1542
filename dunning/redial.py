"""Re-dials the same day: a call nobody answered is tried again, a few times.

A no-answer (or busy) is an outcome, not a failure. Each re-dial is an action
of its own in the ledger, its target the original's with ``~redial-N``, so
"called three times, never answered" reads straight from the ledger. A flow run
scheduled for the hour places them (see ``flows/redial.py``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunning import ledger
from dunning.ledger import NewAction
from dunning.models import Action, ActionKind, ActionState, Case, CaseState

REDIAL_AFTER = frozenset({"no-answer", "busy"})
SUFFIX = "~redial-"


def redial_of(target: str) -> tuple[str, int]:
    """The original target and which re-dial this is (0 for the first call)."""
    base, _, number = target.partition(SUFFIX)
    return base, int(number) if number.isdigit() else 0


def next_redials(actions: list[Action], tries: int) -> list[NewAction]:
    """For each call chain whose latest try went unanswered, the next try.

    Only borrowers are re-dialled: a guarantor is pressed, not chased.
    """
    latest: dict[tuple[int, str], Action] = {}
    for action in actions:
        base, number = redial_of(action.target)
        chain = (action.case_id, base)
        if chain not in latest or number > redial_of(latest[chain].target)[1]:
            latest[chain] = action
    wanted = []
    for (_, base), action in sorted(latest.items()):
        number = redial_of(action.target)[1]
        if base.startswith("guarantor:") or number >= tries:
            continue
        if action.state != ActionState.DONE:
            continue
        if action.channel_status not in REDIAL_AFTER:
            continue
        wanted.append(
            NewAction(
                case_id=action.case_id,
                loan_id=action.loan_id,
                kind=ActionKind.CALL,
                target=f"{base}{SUFFIX}{number + 1}",
                planned_on=action.planned_on,
                rule="redial",
                template=action.template,
                purpose=f"redial {number + 1}/{tries} after {action.channel_status}",
            )
        )
    return wanted


def plan_redials(session: Session, as_of: date, tries: int) -> int:
    """Record the day's next re-dials for open cases; return how many are new."""
    actions = list(
        session.scalars(
            select(Action)
            .join(Case, Case.id == Action.case_id)
            .where(
                Action.planned_on == as_of,
                Action.kind == ActionKind.CALL,
                Case.state == CaseState.OPEN,
            )
        )
    )
    return ledger.add_actions(session, next_redials(actions, tries))


def redial_times(
    now: datetime, tries: int, gap: timedelta, timezone: str, last_hour: int
) -> list[datetime]:
    """When the re-dial runs happen: every ``gap``, none at or after ``last_hour``."""
    local = ZoneInfo(timezone)
    times = []
    for number in range(1, tries + 1):
        at = now + gap * number
        local_at = at.astimezone(local)
        if (
            local_at.date() != now.astimezone(local).date()
            or local_at.hour >= last_hour
        ):
            break
        times.append(at)
    return times
