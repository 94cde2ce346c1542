"""Rules a text must pass before it goes out, whatever the channel."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dunning.models import Action, ActionState, Document

# China's operators reject the third identical text to one number in 24 hours.
REPEAT_WINDOW = timedelta(hours=24)
REPEAT_LIMIT = 2


def refusal(
    session: Session,
    action_id: int,
    to: str,
    body: str,
    segments: int,
    now: datetime,
    max_segments: int,
    queued: int = 0,
) -> str | None:
    """Why this text must not go out, as a skip reason, or None when it may.

    ``queued`` counts identical texts to the same number about to go out
    before this one, in the same batch.
    """
    if segments > max_segments:
        return "too-many-segments"
    sent = identical_texts_sent(session, action_id, to, body, now)
    if sent + queued >= REPEAT_LIMIT:
        return "operator-repeat-limit"
    return None


def identical_texts_sent(
    session: Session, action_id: int, to: str, body: str, now: datetime
) -> int:
    """Texts with this very body that went (or may have gone) to ``to`` lately."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Document)
            .join(Action, Action.id == Document.action_id)
            .where(
                Document.kind == "sms",
                Document.recipient == to,
                Document.content_hash == body_hash(body),
                Document.created_at > now - REPEAT_WINDOW,
                Document.action_id != action_id,
                Action.state.in_([ActionState.DONE, ActionState.CLAIMED]),
            )
        )
        or 0
    )


def body_hash(body: str) -> str:
    """As documents record it: the same body, the same hash."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
