"""After approval: legal's recovery steps close or reopen the case."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from scenario import DUE, add_loan, run_days
from sqlalchemy import select

from dunning.daily import RunContext
from dunning.db import unit_of_work
from dunning.legal import (
    StepRecord,
    apply_decision,
    load_legal_config,
    record_legal_step,
)
from dunning.models import Action, BlacklistEntry, Case, LegalReferral
from dunning.operations import InvalidRequest


def day(dpd: int) -> date:
    return DUE + timedelta(days=dpd)


def approved(settings) -> None:
    add_loan(settings.db_url)
    run_days(settings, day(1), day(30))
    with unit_of_work(settings.db_url) as session:
        referral = session.scalars(select(LegalReferral)).one()
        apply_decision(session, referral.id, "approve", decided_by="王主管", on=day(30))


def step(settings, record: StepRecord) -> dict:
    config = load_legal_config(settings.config_dir / "legal.yaml")
    with unit_of_work(settings.db_url) as session:
        return record_legal_step(
            session, "LN1", record, config, RunContext(settings).playbook
        )


def state(settings) -> tuple[str, str]:
    with unit_of_work(settings.db_url) as session:
        case = session.scalars(select(Case)).one()
        referral = session.scalars(select(LegalReferral)).one()
        return case.state.value, referral.state


def test_a_lawsuit_is_progress_and_the_case_stays_with_legal(settings):
    approved(settings)

    result = step(
        settings,
        StepRecord("lawsuit-filed", day(35), "法务张", reference="(2026)浙0782民初1号"),
    )

    assert result["effect"] == "progress"
    assert state(settings) == ("legal", "approved")


def test_settlement_by_the_guarantor_closes_the_case_and_blacklists(settings):
    approved(settings)

    with pytest.raises(InvalidRequest, match="settlement amount"):
        step(settings, StepRecord("settlement-by-guarantor", day(40), "法务张"))
    result = step(
        settings,
        StepRecord("settlement-by-guarantor", day(40), "法务张", Decimal("1000.00")),
    )

    assert result["closed"] is True
    assert state(settings) == ("resolved", "closed")
    with unit_of_work(settings.db_url) as session:
        (entry,) = session.scalars(select(BlacklistEntry))
    assert entry.listed_on == day(40)


def test_an_installment_agreement_reopens_and_a_break_refers_again(settings):
    approved(settings)

    step(
        settings,
        StepRecord(
            "installment-agreement",
            day(35),
            "法务张",
            parts=((day(40), Decimal("500.00")), (day(70), Decimal("500.00"))),
        ),
    )
    assert state(settings) == ("open", "agreement")
    run_days(settings, day(36), day(40))
    with unit_of_work(settings.db_url) as session:
        calls = session.scalars(
            select(Action.kind).where(Action.planned_on == day(36))
        ).all()
    assert "call" in [c.value for c in calls]  # back in collection

    run_days(settings, day(41), day(41))  # nothing paid by the first part's date

    with unit_of_work(settings.db_url) as session:
        referral = session.scalars(select(LegalReferral)).one()
    assert (referral.state, referral.reason, referral.referred_on) == (
        "pending",
        "agreement-broken",
        day(41),
    )


def test_a_step_on_a_case_not_in_legal_is_refused(settings):
    add_loan(settings.db_url)
    run_days(settings, day(1), day(3))

    with pytest.raises(InvalidRequest, match="approved for legal"):
        step(settings, StepRecord("judgment", day(3), "法务张"))


def test_the_command_line_lists_decides_and_records_steps(settings):
    import json

    from typer.testing import CliRunner

    from dunning.cli import app

    runner = CliRunner()
    add_loan(settings.db_url)
    run_days(settings, day(1), day(30))

    pending = runner.invoke(app, ["legal", "pending", "--json"])
    (row,) = json.loads(pending.stdout)
    refused = runner.invoke(
        app,
        [
            "legal",
            "decide",
            str(row["referral_id"]),
            "--decision",
            "reject",
            "--by",
            "王主管",
        ],
    )
    approved = runner.invoke(
        app,
        [
            "legal",
            "decide",
            str(row["referral_id"]),
            "--decision",
            "approve",
            "--by",
            "王主管",
            "--on",
            day(31).isoformat(),
        ],
    )
    agreement = runner.invoke(
        app,
        [
            "legal",
            "record",
            "LN1",
            "--step",
            "installment-agreement",
            "--by",
            "法务张",
            "--on",
            day(35).isoformat(),
            "--part",
            f"{day(45)}:600.00",
            "--part",
            f"{day(75)}:400.00",
        ],
    )

    assert (row["loan_id"], row["dpd"], row["arrears"]) == ("LN1", 30, "¥1,000.00")
    assert refused.exit_code == 2 and "reason" in refused.output
    assert approved.exit_code == 0 and "approved" in approved.output
    assert agreement.exit_code == 0, agreement.output
    assert json.loads(agreement.stdout)["reopened"] is True
    assert state(settings) == ("open", "agreement")


def test_a_decision_needs_a_supervisor_a_plausible_date_and_a_sane_send_back(
    settings,
):
    from typer.testing import CliRunner

    from dunning.cli import app

    add_loan(settings.db_url)
    run_days(settings, day(1), day(30))
    runner = CliRunner()
    nameless = runner.invoke(
        app, ["legal", "decide", "1", "--decision", "approve", "--by", " "]
    )
    future = runner.invoke(
        app,
        [
            "legal",
            "decide",
            "1",
            "--decision",
            "approve",
            "--by",
            "王主管",
            "--on",
            "2099-01-01",
        ],
    )
    forever = runner.invoke(
        app,
        [
            "legal",
            "decide",
            "1",
            "--decision",
            "send-back",
            "--days",
            "100000",
            "--by",
            "王主管",
        ],
    )

    assert nameless.exit_code == 2 and "name of the supervisor" in nameless.output
    assert future.exit_code == 2 and "after today" in future.output
    assert forever.exit_code == 2 and "from 1 to 365" in forever.output
