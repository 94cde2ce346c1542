"""Writing validated records to the store, each kind with its own update rule.

Records arrive as plain dicts keyed by column name, already validated and
complete. Every function returns, per key, whether the record was
``inserted``, ``updated`` or ``unchanged``; none of them commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from dunning.importing.store import (
    Key,
    delete_ids,
    diff,
    fetch,
    fetch_keyed,
    insert_new,
    upsert,
)
from dunning.models import (
    Borrower,
    Guarantor,
    Installment,
    Loan,
    LoanGuarantor,
    Payment,
)
from dunning.models import Phone as PhoneRow
from dunning.phones import PhoneNumber

BORROWERS: Table = Borrower.__table__  # type: ignore[assignment]
PHONES: Table = PhoneRow.__table__  # type: ignore[assignment]
LOANS: Table = Loan.__table__  # type: ignore[assignment]
GUARANTORS: Table = Guarantor.__table__  # type: ignore[assignment]
LOAN_GUARANTORS: Table = LoanGuarantor.__table__  # type: ignore[assignment]
INSTALLMENTS: Table = Installment.__table__  # type: ignore[assignment]
PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]

BORROWER_FIELDS = ("name", "address", "country", "synthetic")
LOAN_FIELDS = ("borrower_id", "product", "principal", "currency", "branch", "officer")
GUARANTOR_FIELDS = ("name", "phone", "phone_line_type", "synthetic")
INSTALLMENT_FIELDS = ("due_on", "amount")
PAYMENT_FIELDS = ("loan_id", "paid_on", "amount")


def stored_ids(session: Session, table: Table, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are primary keys already in ``table``."""
    return {r["id"] for r in fetch(session, table, "id", ids, ["id"])}


def _single(keys: Iterable[str]) -> dict[Key, str]:
    return {(k,): k for k in keys}


def sync_borrowers(
    session: Session,
    borrowers: Mapping[str, dict[str, Any]],
    phones: Mapping[str, Sequence[PhoneNumber]],
) -> dict[str, str]:
    """Upsert borrowers and make their numbers the ones listed, in that order.

    A number no longer listed is deleted while its status is still ``ok``;
    one a channel marked (opted out, invalid, not SMS-capable) is kept, after
    the listed ones, so that what was learnt about it is never forgotten if it
    comes back.
    """
    if not borrowers:
        return {}
    wanted = {(b,): {"id": b, **row} for b, row in borrowers.items()}
    stored = fetch_keyed(session, BORROWERS, ["id"], wanted.keys(), BORROWER_FIELDS)
    changes = diff(wanted, stored, BORROWER_FIELDS)
    plan = _plan_phones(session, borrowers.keys(), phones, changes.new)

    insert_new(session, BORROWERS, ["id"], [wanted[k] for k in changes.new])
    upsert(
        session,
        BORROWERS,
        ["id"],
        [wanted[k] for k in changes.changed],
        BORROWER_FIELDS,
    )
    key = ["borrower_id", "number"]
    delete_ids(session, PHONES, plan.deletes)
    insert_new(session, PHONES, key, plan.inserts)
    upsert(session, PHONES, key, plan.updates, ["position", "line_type"])

    outcomes = {k[0]: o for k, o in changes.outcome().items()}
    for borrower_id in plan.touched:
        if outcomes[borrower_id] == "unchanged":
            outcomes[borrower_id] = "updated"
    return outcomes


@dataclass
class _PhonePlan:
    touched: set[str] = field(default_factory=set)
    inserts: list[dict] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)


def _plan_phones(
    session: Session,
    borrower_ids: Iterable[str],
    phones: Mapping[str, Sequence[PhoneNumber]],
    new_borrowers: Sequence[Key],
) -> _PhonePlan:
    new = {k[0] for k in new_borrowers}
    stored: dict[str, list[dict[str, Any]]] = defaultdict(list)
    old_ids = [b for b in borrower_ids if b not in new]
    columns = ["id", "borrower_id", "number", "position", "line_type", "status"]
    for row in fetch(session, PHONES, "borrower_id", old_ids, columns):
        stored[row["borrower_id"]].append(row)

    plan = _PhonePlan()
    for borrower_id in borrower_ids:
        listed = _listed_numbers(borrower_id, phones.get(borrower_id, ()))
        by_number = {p["number"]: p for p in stored.get(borrower_id, [])}
        for row in listed:
            old = by_number.pop(row["number"], None)
            if old is None:
                plan.inserts.append(row)
            elif (old["position"], old["line_type"]) != (
                row["position"],
                row["line_type"],
            ):
                plan.updates.append(row)
            else:
                continue
            plan.touched.add(borrower_id)
        kept = sorted(by_number.values(), key=lambda p: (p["position"], p["id"]))
        position = len(listed)
        for old in kept:
            if old["status"] == "ok":
                plan.deletes.append(old["id"])
                plan.touched.add(borrower_id)
                continue
            if old["position"] != position:
                plan.updates.append({**_phone_row(old), "position": position})
                plan.touched.add(borrower_id)
            position += 1
    return plan


def _listed_numbers(borrower_id: str, numbers: Sequence[PhoneNumber]) -> list[dict]:
    # The same number written twice (as 138... and +86 138...) is one phone.
    rows: list[dict] = []
    seen: set[str] = set()
    for number in numbers:
        if number.e164 in seen:
            continue
        seen.add(number.e164)
        rows.append(
            {
                "borrower_id": borrower_id,
                "number": number.e164,
                "position": len(rows),
                "line_type": number.line_type,
            }
        )
    return rows


def _phone_row(stored: Mapping[str, Any]) -> dict:
    return {
        "borrower_id": stored["borrower_id"],
        "number": stored["number"],
        "position": stored["position"],
        "line_type": stored["line_type"],
    }


def sync_loans(session: Session, loans: Mapping[str, dict[str, Any]]) -> dict[str, str]:
    wanted = {(k,): {"id": k, **row} for k, row in loans.items()}
    stored = fetch_keyed(session, LOANS, ["id"], wanted.keys(), LOAN_FIELDS)
    changes = diff(wanted, stored, LOAN_FIELDS)
    insert_new(session, LOANS, ["id"], [wanted[k] for k in changes.new])
    upsert(session, LOANS, ["id"], [wanted[k] for k in changes.changed], LOAN_FIELDS)
    return {k[0]: o for k, o in changes.outcome().items()}


def sync_guarantors(
    session: Session, guarantors: Mapping[str, dict[str, Any]]
) -> dict[str, str]:
    """Upsert guarantors; a changed number starts again with status ``ok``."""
    wanted = {(k,): {"id": k, **row} for k, row in guarantors.items()}
    stored = fetch_keyed(
        session, GUARANTORS, ["id"], wanted.keys(), [*GUARANTOR_FIELDS, "phone_status"]
    )
    changes = diff(wanted, stored, GUARANTOR_FIELDS)
    updates = []
    for key in changes.changed:
        old = stored[key]
        status = old["phone_status"] if old["phone"] == wanted[key]["phone"] else "ok"
        updates.append({**wanted[key], "phone_status": status})
    insert_new(session, GUARANTORS, ["id"], [wanted[k] for k in changes.new])
    upsert(session, GUARANTORS, ["id"], updates, [*GUARANTOR_FIELDS, "phone_status"])
    return {k[0]: o for k, o in changes.outcome().items()}


def sync_loan_guarantors(
    session: Session, links: Mapping[tuple[str, str], Any]
) -> dict[Key, str]:
    """Link guarantors to loans with their kind; keys are (loan_id, guarantor_id)."""
    key = ["loan_id", "guarantor_id"]
    wanted = {
        (loan, g): {"loan_id": loan, "guarantor_id": g, "kind": kind}
        for (loan, g), kind in links.items()
    }
    stored = fetch_keyed(session, LOAN_GUARANTORS, key, wanted.keys(), ["kind"])
    changes = diff(wanted, stored, ["kind"])
    insert_new(session, LOAN_GUARANTORS, key, [wanted[k] for k in changes.new])
    upsert(
        session, LOAN_GUARANTORS, key, [wanted[k] for k in changes.changed], ["kind"]
    )
    return changes.outcome()


def sync_installments(
    session: Session, installments: Mapping[tuple[str, int], dict[str, Any]]
) -> dict[Key, str]:
    """Upsert installments keyed by (loan_id, seq): a schedule may be revised."""
    key = ["loan_id", "seq"]
    wanted = {
        (loan, seq): {"loan_id": loan, "seq": seq, **row}
        for (loan, seq), row in installments.items()
    }
    stored = fetch_keyed(session, INSTALLMENTS, key, wanted.keys(), INSTALLMENT_FIELDS)
    changes = diff(wanted, stored, INSTALLMENT_FIELDS)
    insert_new(session, INSTALLMENTS, key, [wanted[k] for k in changes.new])
    upsert(
        session,
        INSTALLMENTS,
        key,
        [wanted[k] for k in changes.changed],
        INSTALLMENT_FIELDS,
    )
    return changes.outcome()


def stored_payments(session: Session, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    return {
        k[0]: row
        for k, row in fetch_keyed(
            session, PAYMENTS, ["id"], _single(ids).keys(), PAYMENT_FIELDS
        ).items()
    }


def insert_payments(session: Session, payments: Sequence[dict[str, Any]]) -> None:
    """Insert payments not yet stored; stored ones are immutable and never written."""
    insert_new(session, PAYMENTS, ["id"], payments)
