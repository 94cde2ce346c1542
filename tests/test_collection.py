"""A case's life through the daily run's steps, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from scenario import DUE, add_loan, pay, run_day, run_days
from sqlalchemy import func, select

from dunning.db import unit_of_work
from dunning.models import (
    Action,
    AuditEntry,
    BlacklistEntry,
    Case,
    Document,
    LegalReferral,
    Promise,
)
from dunning.operations import Outcome, record_outcome
from dunning.settings import Settings


@pytest.fixture
def store(db_url, tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("DUNNING_HOME", str(tmp_path))
    monkeypatch.setenv("DUNNING_DATABASE_URL", db_url)
    return Settings()


def day(dpd: int) -> date:
    return DUE + timedelta(days=dpd)


def ledger(url: str, loan_id: str = "LN1") -> list[tuple[str, str, str, str, str]]:
    with unit_of_work(url) as session:
        return [
            (
                a.planned_on.isoformat(),
                a.kind.value,
                a.target,
                a.state.value,
                a.skip_reason,
            )
            for a in session.scalars(
                select(Action).where(Action.loan_id == loan_id).order_by(Action.id)
            )
        ]


def the_case(url: str, loan_id: str = "LN1") -> Case:
    with unit_of_work(url) as session:
        return session.scalars(
            select(Case).where(Case.loan_id == loan_id).order_by(Case.id.desc())
        ).first()


def test_unpaid_loan_runs_the_playbook_and_goes_to_legal_at_dpd_30(store):
    add_loan(store.db_url)

    run_days(store, day(1), day(31))

    rows = ledger(store.db_url)
    by_day = {}
    for on, kind, target, state, _ in rows:
        by_day.setdefault(on, set()).add((kind, target, state))
    assert by_day[day(1).isoformat()] == {
        ("visit", "borrower", "issued"),
        ("call", "borrower", "done"),
    }
    assert by_day[day(4).isoformat()] == {
        ("visit", "borrower", "issued"),
        ("guarantor_contact", "guarantor:G-LN1", "issued"),
    }
    assert day(5).isoformat() not in by_day
    assert by_day[day(7).isoformat()] == {
        ("notice", "borrower", "issued"),
        ("sms", "borrower", "done"),
    }
    assert by_day[day(30).isoformat()] == {
        ("legal_referral", "borrower", "done"),
        ("call", "borrower", "skipped"),
    }
    assert day(31).isoformat() not in by_day  # contact has stopped
    case = the_case(store.db_url)
    # Referred and awaiting a supervisor's approval: still collection's case.
    assert (case.state.value, case.dpd, case.referred_on) == ("open", 31, day(30))
    with unit_of_work(store.db_url) as session:
        assert session.scalars(select(LegalReferral.state)).all() == ["pending"]
    # 1000.00 overdue for 31 days at 0.05% a day = 15.50
    assert case.penalty == Decimal("15.50")
    calls = [r for r in rows if r[1] == "call" and r[3] == "done"]
    assert len(calls) == 3 + 22  # DPD 1-3, then every day from 8 to 29


def test_partial_payment_keeps_the_case_open_with_lower_arrears(store):
    add_loan(store.db_url)
    pay(store.db_url, "LN1", "400.00", day(2), "P1")

    run_days(store, day(1), day(3))

    case = the_case(store.db_url)
    assert (case.state.value, case.arrears, case.dpd) == ("open", Decimal("600.00"), 3)


def test_full_payment_resolves_without_blacklisting_a_short_episode(store):
    add_loan(store.db_url)
    run_days(store, day(1), day(5))
    pay(store.db_url, "LN1", "1000.00", day(6), "P1")

    summary = run_day(store, day(6))

    case = the_case(store.db_url)
    assert (case.state.value, case.resolved_on, case.max_dpd) == ("resolved", day(6), 5)
    assert summary["resolved"] == 1 and summary["blacklisted"] == 0
    assert not [r for r in ledger(store.db_url) if r[0] == day(6).isoformat()]


def test_payment_after_dpd_30_resolves_and_blacklists_the_borrower(store):
    add_loan(store.db_url)
    run_days(store, day(1), day(32))
    pay(store.db_url, "LN1", "1000.00", day(33), "P1")

    summary = run_day(store, day(33))

    with unit_of_work(store.db_url) as session:
        entries = list(session.scalars(select(BlacklistEntry)))
        events = [e.event for e in session.scalars(select(AuditEntry))]
    assert summary["blacklisted"] == 1
    assert [(e.borrower_id, e.listed_on) for e in entries] == [("B-LN1", day(33))]
    assert entries[0].reason == f"resolved after legal referral on {day(30)}"
    assert events.count("blacklisted") == 1 and events.count("case-resolved") == 1


def test_promise_suspends_calls_then_a_broken_promise_sends_a_visit(store):
    add_loan(store.db_url)
    run_days(store, day(1), day(8))
    with unit_of_work(store.db_url) as session:
        record_outcome(
            session,
            "LN1",
            Outcome(
                kind="call",
                outcome="answered",
                on=day(8),
                promise_date=day(10),
                promise_amount=Decimal("1000.00"),
                reason="cash-flow",
            ),
            actor="test",
        )
    pay(store.db_url, "LN1", "300.00", day(9), "P1")  # partial: keeps nothing

    run_days(store, day(9), day(11))

    rows = {
        (on, kind): (state, reason)
        for on, kind, _, state, reason in ledger(store.db_url)
    }
    assert rows[(day(9).isoformat(), "call")] == ("skipped", "promise-pending")
    assert rows[(day(10).isoformat(), "call")] == ("skipped", "promise-pending")
    assert rows[(day(11).isoformat(), "call")] == ("done", "")
    assert rows[(day(11).isoformat(), "visit")] == ("issued", "")
    with unit_of_work(store.db_url) as session:
        promise = session.scalars(select(Promise)).one()
        assert (promise.state.value, promise.settled_on) == ("broken", day(11))
        assert session.scalar(select(Case.reason)).value == "cash-flow"


def test_promise_paid_in_full_is_kept_and_calls_resume_only_if_still_owing(store):
    add_loan(store.db_url, amounts=("1000.00", "1000.00"))
    run_days(store, day(1), day(8))
    with unit_of_work(store.db_url) as session:
        record_outcome(
            session,
            "LN1",
            Outcome(
                "visit",
                "met",
                day(8),
                promise_date=day(9),
                promise_amount=Decimal("500.00"),
            ),
            actor="test",
        )
    pay(store.db_url, "LN1", "500.00", day(9), "P1")

    run_day(store, day(9))

    with unit_of_work(store.db_url) as session:
        promise = session.scalars(select(Promise)).one()
    assert promise.state.value == "kept"
    assert the_case(store.db_url).arrears == Decimal("500.00")


def test_legal_file_lists_the_case_history(store):
    add_loan(store.db_url)
    run_days(store, day(1), day(30))

    with unit_of_work(store.db_url) as session:
        referral = session.scalars(select(LegalReferral)).one()
        document = session.get(Document, referral.document_id)
        history = list(
            session.scalars(select(Action).where(Action.planned_on < day(30)))
        )
    assert referral.dpd == 30 and referral.arrears == Decimal("1000.00")
    # Every earlier action appears in the file, one table row each.
    assert document.body.count("<tr") >= len(history)
    assert "逾期催收通知书" in document.body and "LN1" in document.body


def claim_todays_calls_and_die(settings: Settings, as_of: date) -> None:
    """A run killed right after claiming its calls, before any went out."""
    from dunning import daily, ledger

    ctx = daily.RunContext(settings)
    daily.begin_run(ctx, as_of)
    daily.refresh(ctx, as_of)
    daily.plan(ctx, as_of)
    with unit_of_work(settings.db_url) as session:
        ids = list(
            session.scalars(
                select(Action.id).where(
                    Action.planned_on == as_of, Action.kind == "call"
                )
            )
        )
        ledger.claim(session, ids, "outbox")


def test_a_killed_day_must_be_run_again_before_the_next(store):
    from dunning.errors import RunOrderError

    add_loan(store.db_url)
    claim_todays_calls_and_die(store, day(1))

    with pytest.raises(RunOrderError, match=f"the run for {day(1)} started but"):
        run_day(store, day(2))
    run_day(store, day(1))
    run_day(store, day(2))

    with unit_of_work(store.db_url) as session:
        calls = list(
            session.scalars(select(Document.key).where(Document.kind == "call"))
        )
        claimed = session.scalar(
            select(func.count()).select_from(Action).where(Action.state == "claimed")
        )
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 2
    assert claimed == 0


def test_an_unsent_claim_from_a_past_day_expires_instead_of_going_out_late(store):
    from dunning.models import DailyRun

    add_loan(store.db_url)
    claim_todays_calls_and_die(store, day(1))
    with unit_of_work(store.db_url) as session:
        # As if the day had been closed by hand without sending.
        session.get(DailyRun, day(1)).finished_at = session.get(
            DailyRun, day(1)
        ).started_at
    pay(store.db_url, "LN1", "1000.00", day(2), "P1")

    run_day(store, day(2))

    rows = ledger(store.db_url)
    assert (day(1).isoformat(), "call", "borrower", "cancelled", "expired") in rows
    with unit_of_work(store.db_url) as session:
        # Nothing went out late: the resolved case got no stale call.
        assert session.scalar(select(func.count()).select_from(Document)) == 0
