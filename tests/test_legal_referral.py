"""Referral to legal: when it happens, what stops, and the legal file it builds."""

from __future__ import annotations

import stat
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from scenario import DUE, add_loan, run_day, run_days
from sqlalchemy import select

from dunning.db import unit_of_work
from dunning.legal import (
    Decision,
    InvalidRequest,
    agreement_state,
    check_decision,
    next_working_day,
    referral_blocks,
)
from dunning.models import (
    Action,
    Document,
    LegalReferral,
    LegalReferralApproval,
)
from dunning.operations import Outcome, record_outcome


def day(dpd: int) -> date:
    return DUE + timedelta(days=dpd)


def referrals(url: str) -> list[LegalReferral]:
    with unit_of_work(url) as session:
        return list(session.scalars(select(LegalReferral)))


def actions_on(url: str, on: date) -> list[tuple[str, str, str]]:
    with unit_of_work(url) as session:
        return [
            (a.kind.value, a.state.value, a.skip_reason)
            for a in session.scalars(select(Action).where(Action.planned_on == on))
        ]


# Decisions over plain values ------------------------------------------------------


def test_a_rejection_without_a_reason_is_refused():
    with pytest.raises(InvalidRequest, match="reason"):
        check_decision("reject", "  ", None)


def test_a_send_back_needs_a_number_of_days():
    with pytest.raises(InvalidRequest, match="days"):
        check_decision("send-back", "", 0)
    assert check_decision("send-back", "", 5) == (Decision.SEND_BACK, "", 5)


def test_an_unknown_decision_names_the_choices():
    with pytest.raises(InvalidRequest, match="approve"):
        check_decision("maybe", "", None)


def test_pending_stops_contact_and_rejection_stops_re_referral():
    today = date(2026, 12, 3)
    assert referral_blocks("pending", None, today) == (True, False)
    assert referral_blocks("rejected", None, today) == (False, True)
    assert referral_blocks("sent-back", today + timedelta(days=1), today) == (
        False,
        True,
    )
    assert referral_blocks("sent-back", today, today) == (False, False)
    assert referral_blocks(None, None, today) == (False, False)


def test_an_agreement_breaks_when_a_part_is_short_after_its_date():
    parts = [(date(2026, 12, 10), Decimal("500")), (date(2027, 1, 10), Decimal("500"))]
    made = date(2026, 12, 1)
    paid = [(date(2026, 12, 9), Decimal("300"))]

    assert agreement_state(parts, paid, made, date(2026, 12, 10)) == "active"
    assert agreement_state(parts, paid, made, date(2026, 12, 11)) == "broken"
    full = [(date(2026, 12, 9), Decimal("1000"))]
    assert agreement_state(parts, full, made, date(2026, 12, 11)) == "kept"


def test_the_next_working_day_skips_the_weekend():
    friday = date(2026, 12, 4)
    assert next_working_day(friday) == date(2026, 12, 7)
    assert next_working_day(date(2026, 12, 7)) == date(2026, 12, 8)


# Through the daily run ------------------------------------------------------------


def test_a_case_crossing_dpd_30_gets_one_referral_and_one_file_of_its_whole_history(
    prefect_harness, settings
):
    from flows.daily_run import daily_collection_run

    add_loan(settings.db_url)
    run_days(settings, day(1), day(29))

    daily_collection_run(as_of=day(30))
    daily_collection_run(as_of=day(30))

    (referral,) = referrals(settings.db_url)
    with unit_of_work(settings.db_url) as session:
        files = list(
            session.scalars(select(Document).where(Document.kind == "legal-file"))
        )
        history = list(session.scalars(select(Action).where(Action.loan_id == "LN1")))
        approval = session.get_one(LegalReferralApproval, referral.id)
    assert (referral.state, referral.reason, referral.dpd) == (
        "pending",
        "legal-threshold",
        30,
    )
    assert [f.id for f in files] == [referral.document_id]
    body = files[0].body
    assert len(history) > 30
    for action in history:
        assert f"#{action.id}<" in body
    # 1000.00 overdue for 30 days at 0.05% a day.
    assert "¥15.00" in body and "¥1,015.00" in body
    # The file of record masks the ID; legal's own copy, owner-only, does not.
    assert "B-LN1" not in body and "G-LN1" not in body
    restricted = Path(approval.restricted_path)
    assert "outbox" not in restricted.parts
    assert stat.S_IMODE(restricted.stat().st_mode) == 0o600
    full = restricted.read_text(encoding="utf-8")
    assert "B-LN1" in full and "G-LN1" in full
    # The Prefect UI links to the file and lists the day's referrals.
    from prefect import get_client

    with get_client(sync_client=True) as client:
        keys = {a.key: a for a in client.read_latest_artifacts()}
    assert files[0].content_hash in keys["legal-file-ln1"].description
    assert "legal-referrals-2026-11-30" in keys
    # Automated contact stopped on the day of the referral and after it.
    assert ("call", "skipped", "referred-to-legal") in actions_on(
        settings.db_url, day(30)
    )
    run_day(settings, day(31))
    assert actions_on(settings.db_url, day(31)) == []


def test_a_fraud_reason_refers_at_once(settings):
    add_loan(settings.db_url)
    run_days(settings, day(1), day(2))
    with unit_of_work(settings.db_url) as session:
        record_outcome(
            session,
            "LN1",
            Outcome(kind="visit", outcome="met", on=day(2), reason="fraud"),
            actor="信贷员甲",
        )

    run_day(settings, day(3))

    (referral,) = referrals(settings.db_url)
    assert (referral.state, referral.reason, referral.dpd) == (
        "pending",
        "reason-fraud",
        3,
    )
    assert ("call", "skipped", "referred-to-legal") in actions_on(
        settings.db_url, day(3)
    )


def test_the_legal_file_escapes_a_borrower_name_with_markup(settings):
    add_loan(settings.db_url, name="<script>alert(1)</script>&张三")
    run_days(settings, day(1), day(30))

    with unit_of_work(settings.db_url) as session:
        body = session.scalars(
            select(Document.body).where(Document.kind == "legal-file")
        ).one()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;张三" in body
