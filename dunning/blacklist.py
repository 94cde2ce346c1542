"""The blacklist: borrowers refused new credit after a long-overdue episode.

A borrower is listed when a case that reached the blacklist threshold, or went
to legal, is resolved; the entry names its reason and source case. Removing an
entry needs a reason and is audited. The export is what the loan-origination
system reads: it carries full borrower numbers, since that system matches on
them, and is written with owner-only permissions.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from dunning import ledger
from dunning.errors import DunningError, NotFound
from dunning.formatting import mask_id
from dunning.models import BlacklistEntry, Case, CaseState, LegalReferral, Loan
from dunning.operations import InvalidRequest

EXPORT_COLUMNS = ("borrower_id", "listed_on", "reason", "source_case", "loan_id")


def listing_reason(case: Case, referred: bool) -> str:
    if referred and case.referred_on:
        return f"resolved after legal referral on {case.referred_on}"
    return f"resolved after reaching DPD {case.max_dpd}"


def blacklist_case(
    session: Session, case: Case, on: date, actor: str
) -> BlacklistEntry | None:
    """List the case's borrower, once per case; None when listed already."""
    if session.scalar(
        select(BlacklistEntry.id).where(BlacklistEntry.case_id == case.id)
    ):
        return None
    referred = (
        session.scalar(
            select(LegalReferral.id).where(
                LegalReferral.case_id == case.id,
                LegalReferral.state.in_(["pending", "approved", "closed", "referred"]),
            )
        )
        is not None
    )
    reason = listing_reason(case, referred)
    loan = session.get_one(Loan, case.loan_id)
    entry = BlacklistEntry(
        borrower_id=loan.borrower_id, case_id=case.id, listed_on=on, reason=reason
    )
    session.add(entry)
    session.flush()
    ledger.audit(
        session,
        actor,
        "blacklisted",
        "case",
        case.id,
        loan=case.loan_id,
        reason=reason,
        entry=entry.id,
    )
    return entry


def blacklist_resolved(
    session: Session, as_of: date, threshold_dpd: int, actor: str = "daily-run"
) -> int:
    """List borrowers whose long-overdue or legal case was resolved on ``as_of``."""
    cases = session.scalars(
        select(Case).where(
            Case.state == CaseState.RESOLVED,
            Case.resolved_on == as_of,
            (Case.max_dpd >= threshold_dpd) | Case.referred_on.is_not(None),
        )
    )
    return sum(
        blacklist_case(session, case, as_of, actor) is not None for case in cases
    )


@dataclass(frozen=True)
class EntryView:
    id: int
    borrower: str  # masked
    loan_id: str
    case_id: int
    listed_on: str
    reason: str
    removed_on: str | None
    removed_reason: str


def entries(session: Session, include_removed: bool = False) -> list[EntryView]:
    query = (
        select(BlacklistEntry, Case.loan_id)
        .join(Case, Case.id == BlacklistEntry.case_id)
        .order_by(BlacklistEntry.listed_on, BlacklistEntry.id)
    )
    if not include_removed:
        query = query.where(BlacklistEntry.removed_on.is_(None))
    return [_view(entry, loan_id) for entry, loan_id in session.execute(query)]


def find_entries(session: Session, ref: str) -> list[EntryView]:
    """Entries by entry number, borrower number or loan number."""
    query = select(BlacklistEntry, Case.loan_id).join(
        Case, Case.id == BlacklistEntry.case_id
    )
    if ref.isdigit():
        query = query.where(
            (BlacklistEntry.id == int(ref))
            | (BlacklistEntry.borrower_id == ref)
            | (Case.loan_id == ref)
        )
    else:
        query = query.where((BlacklistEntry.borrower_id == ref) | (Case.loan_id == ref))
    found = [_view(e, loan_id) for e, loan_id in session.execute(query)]
    if not found:
        raise NotFound(
            f"no blacklist entry for {ref!r}; give an entry number, a borrower "
            "number or a loan number (see `dunning blacklist list`)"
        )
    return found


def remove(
    session: Session, entry_id: int, reason: str, operator: str, on: date
) -> BlacklistEntry:
    """Lift an entry; the reason and the operator go to the audit log."""
    if not reason.strip():
        raise InvalidRequest("removing a blacklist entry needs --reason")
    if not operator.strip():
        raise InvalidRequest("removing a blacklist entry needs --operator")
    entry = session.get(BlacklistEntry, entry_id)
    if entry is None:
        raise NotFound(f"blacklist entry {entry_id} not found")
    if entry.removed_on is not None:
        raise InvalidRequest(
            f"blacklist entry {entry_id} was removed already on {entry.removed_on}"
        )
    entry.removed_on = on
    entry.removed_reason = reason.strip()[:200]
    ledger.audit(
        session,
        operator,
        "blacklist-removed",
        "blacklist",
        entry.id,
        case=entry.case_id,
        reason=entry.removed_reason,
        on=on.isoformat(),
    )
    return entry


def export_csv(session: Session, path: Path) -> int:
    """Write the current blacklist for the loan-origination system; return rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    rows = session.execute(
        select(BlacklistEntry, Case.loan_id)
        .join(Case, Case.id == BlacklistEntry.case_id)
        .where(BlacklistEntry.removed_on.is_(None))
        .order_by(BlacklistEntry.borrower_id, BlacklistEntry.id)
    ).all()
    for entry, loan_id in rows:
        writer.writerow(
            [
                entry.borrower_id,
                entry.listed_on.isoformat(),
                entry.reason,
                entry.case_id,
                loan_id,
            ]
        )
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give the export file's path")
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh file, owner-only from its first byte, then renamed over the
    # target: an existing file's wider mode, or a symlink there, is not reused.
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())
    partial.replace(path)
    return len(rows)


class ExportError(DunningError):
    """The export cannot be written where it was asked for."""


def _view(entry: BlacklistEntry, loan_id: str) -> EntryView:
    return EntryView(
        id=entry.id,
        borrower=mask_id(entry.borrower_id),
        loan_id=loan_id,
        case_id=entry.case_id,
        listed_on=entry.listed_on.isoformat(),
        reason=entry.reason,
        removed_on=entry.removed_on.isoformat() if entry.removed_on else None,
        removed_reason=entry.removed_reason,
    )
