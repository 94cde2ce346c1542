"""The outbox of record: every rendered script, text, sheet and notice.

A document is keyed, so writing it again for the same action (or the same
officer and day) returns the one already written instead of a second copy.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunning.ledger import upsert_insert
from dunning.models import Document, utcnow

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def document_path(
    outbox_dir: Path, for_date: date, kind: str, key: str, suffix: str
) -> Path:
    name = _UNSAFE.sub("-", key).strip("-")
    return outbox_dir / for_date.isoformat() / kind / f"{name}.{suffix}"


def write_document(
    session: Session,
    outbox_dir: Path,
    *,
    key: str,
    kind: str,
    for_date: date,
    body: str,
    suffix: str,
    case_id: int | None = None,
    action_id: int | None = None,
    recipient: str = "",
    segments: int | None = None,
) -> Document:
    """Record ``body`` once under ``key``, in the database and as a file."""
    # No flush before these statements (they touch documents only): a run that
    # writes a thousand letters would otherwise flush a thousand times.
    with session.no_autoflush:
        return _write_once(
            session,
            outbox_dir,
            key=key,
            kind=kind,
            for_date=for_date,
            body=body,
            suffix=suffix,
            case_id=case_id,
            action_id=action_id,
            recipient=recipient,
            segments=segments,
        )


def _write_once(
    session: Session,
    outbox_dir: Path,
    *,
    key: str,
    kind: str,
    for_date: date,
    body: str,
    suffix: str,
    case_id: int | None,
    action_id: int | None,
    recipient: str,
    segments: int | None,
) -> Document:
    existing = find_document(session, key)
    if existing is not None:
        return existing

    path = document_path(outbox_dir, for_date, kind, key, suffix)
    _write_atomically(path, body)
    document = session.scalar(
        upsert_insert(session, Document)
        .values(
            key=key,
            kind=kind,
            case_id=case_id,
            action_id=action_id,
            for_date=for_date,
            recipient=recipient,
            path=str(path),
            content_hash=hashlib.sha256(body.encode("utf-8")).hexdigest(),
            body=body,
            segments=segments,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Document)
    )
    if document is None:
        # Another writer recorded the same key in the meantime: theirs stands.
        document = find_document(session, key)
    assert document is not None
    return document


def find_document(session: Session, key: str) -> Document | None:
    return session.scalar(select(Document).where(Document.key == key))


def _write_atomically(path: Path, body: str) -> None:
    # A reader (or a killed run) never sees half a letter.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(body, encoding="utf-8")
    partial.replace(path)
