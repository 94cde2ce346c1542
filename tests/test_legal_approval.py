"""The supervisor's approval form: approve, reject, send back, or no answer."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import date, timedelta
from typing import Any

import pytest
from scenario import DUE, add_loan, run_day, run_days
from sqlalchemy import select

from dunning.db import unit_of_work
from dunning.models import (
    Action,
    AuditEntry,
    Case,
    LegalReferral,
    LegalReferralApproval,
    ReferralDecision,
)
from dunning.settings import PROJECT_ROOT, Settings


def day(dpd: int) -> date:
    return DUE + timedelta(days=dpd)


class ApprovalRun:
    """The day's approval flow in a thread, as a worker would run it."""

    def __init__(self, settings: Settings, as_of: date, timeout: int = 120) -> None:
        from flows.legal_approval import legal_approval

        self.settings = settings
        self.result: dict[str, Any] = {}

        def target() -> None:
            self.result = legal_approval(as_of=as_of, timeout_seconds=timeout)

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def paused_run_id(self, within: float = 60) -> str:
        from prefect import get_client

        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with unit_of_work(self.settings.db_url) as session:
                run_id = session.scalar(
                    select(LegalReferralApproval.approval_flow_run_id).where(
                        LegalReferralApproval.approval_flow_run_id != ""
                    )
                )
            if run_id:
                with get_client(sync_client=True) as client:
                    state = client.read_flow_run(run_id).state
                if state is not None and state.is_paused():
                    return run_id
            time.sleep(0.3)
        raise AssertionError("the approval run never paused for input")

    def finish(self, within: float = 60) -> dict[str, Any]:
        self.thread.join(within)
        assert not self.thread.is_alive(), "the approval run did not finish"
        return self.result


@pytest.fixture
def settings(settings, tmp_path, monkeypatch) -> Settings:
    """The answer is looked for every second rather than every ten."""
    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config)
    legal = config / "legal.yaml"
    legal.write_text(legal.read_text().replace("poll_seconds: 10", "poll_seconds: 1"))
    monkeypatch.setenv("DUNNING_CONFIG_DIR", str(config))
    return Settings()


def referred_case(settings: Settings) -> LegalReferral:
    add_loan(settings.db_url)
    run_days(settings, day(1), day(30))
    with unit_of_work(settings.db_url) as session:
        return session.scalars(select(LegalReferral)).one()


def answer(run_id: str, referral: LegalReferral, **decision: Any) -> None:
    from prefect.flow_runs import resume_flow_run

    resume_flow_run(
        run_id,
        run_input={
            "supervisor": "王主管",
            "decisions": [
                {"referral": referral.id, "loan": "LN1", "dpd": 30} | decision
            ],
        },
    )


def case_and_referral(url: str) -> tuple[str, str, date | None]:
    with unit_of_work(url) as session:
        case = session.scalars(select(Case)).one()
        referral = session.scalars(select(LegalReferral)).one()
        return case.state.value, referral.state, case.referred_on


def contacts_on(url: str, on: date) -> list[tuple[str, str]]:
    with unit_of_work(url) as session:
        return [
            (a.kind.value, a.state.value)
            for a in session.scalars(
                select(Action).where(
                    Action.planned_on == on, Action.kind.in_(["call", "sms", "visit"])
                )
            )
        ]


def test_approval_makes_the_case_legal_and_the_next_daily_run_contacts_nobody(
    prefect_harness, settings
):
    from flows.daily_run import daily_collection_run

    referral = referred_case(settings)
    run = ApprovalRun(settings, day(30))

    answer(run.paused_run_id(), referral, decision="approve")
    result = run.finish()

    assert result["decisions"] == {"approve": 1}
    assert case_and_referral(settings.db_url) == ("legal", "approved", day(30))
    daily_collection_run(as_of=day(31))
    daily_collection_run(as_of=day(38))
    assert contacts_on(settings.db_url, day(31)) == []
    assert contacts_on(settings.db_url, day(38)) == []
    with unit_of_work(settings.db_url) as session:
        (decision,) = session.scalars(select(ReferralDecision))
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.event == "referral-approve")
        ).one()
    assert (decision.decided_by, decision.by_default) == ("王主管", False)
    assert audit.detail["flow_run_id"] == decision.flow_run_id != ""


def test_rejection_returns_the_case_to_collection_without_referring_it_again(
    prefect_harness, settings
):
    referral = referred_case(settings)
    run = ApprovalRun(settings, day(30))

    answer(
        run.paused_run_id(),
        referral,
        decision="reject",
        reason="担保人已承诺代偿",
    )
    run.finish()

    assert case_and_referral(settings.db_url) == ("open", "rejected", None)
    run_day(settings, day(31))
    assert ("call", "done") in contacts_on(settings.db_url, day(31))
    with unit_of_work(settings.db_url) as session:
        kinds = session.scalars(
            select(Action.kind).where(Action.planned_on == day(31))
        ).all()
    assert "legal_referral" not in [k.value for k in kinds]


def test_a_rejection_without_reason_stays_pending_and_says_why(
    prefect_harness, settings
):
    referral = referred_case(settings)
    run = ApprovalRun(settings, day(30))

    answer(run.paused_run_id(), referral, decision="reject")
    result = run.finish()

    assert result["decisions"] == {"refused": 1}
    assert "reason" in result["refused"][0]
    assert case_and_referral(settings.db_url)[1] == "pending"


def test_an_unanswered_batch_gets_the_configured_default_on_timeout(
    prefect_harness, settings
):
    legal = settings.config_dir / "legal.yaml"
    legal.write_text(
        legal.read_text().replace("default_outcome: hold", "default_outcome: send-back")
    )
    referred_case(settings)

    started = time.monotonic()
    result = ApprovalRun(settings, day(30), timeout=2).finish()

    assert time.monotonic() - started < 30
    assert result["timed_out"] is True
    assert result["decisions"] == {"send-back": 1}
    assert case_and_referral(settings.db_url) == ("open", "sent-back", None)
    with unit_of_work(settings.db_url) as session:
        decision = session.scalars(select(ReferralDecision)).one()
        held = session.scalars(select(LegalReferralApproval.held_until)).one()
    assert (decision.by_default, decision.decided_by) == (True, "approval-timeout")
    assert held == day(37)
    # Collection resumes, and the playbook refers again once the days are over.
    run_days(settings, day(31), day(37))
    assert ("call", "done") in contacts_on(settings.db_url, day(31))
    assert case_and_referral(settings.db_url)[1] == "pending"


@pytest.mark.parametrize("timeout", [2])
def test_hold_by_default_keeps_the_referral_for_the_next_batch(
    prefect_harness, settings, timeout
):
    referred_case(settings)

    result = ApprovalRun(settings, day(30), timeout=timeout).finish()

    assert result["decisions"] == {"hold": 1}
    assert case_and_referral(settings.db_url)[1] == "pending"
    with unit_of_work(settings.db_url) as session:
        events = session.scalars(select(AuditEntry.event)).all()
    assert "referral-unanswered" in events
