"""The operators' console: escalate, record an outcome, serve a notice, timeline."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from scenario import DUE, add_loan, pay, run_day, run_days
from sqlalchemy import select

from dunning.db import unit_of_work
from dunning.errors import NotFound
from dunning.models import (
    Action,
    AuditEntry,
    Escalation,
    LegalReferral,
    Notice,
    NoticeService,
    Promise,
)
from dunning.operations import InvalidRequest


def day(dpd: int) -> date:
    return DUE + timedelta(days=dpd)


def flow_run(state):
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id)


def test_escalating_an_unknown_loan_fails_naming_it(prefect_harness, settings):
    from flows.escalate_case import escalate_case

    with pytest.raises(NotFound, match="'LN404'"):
        escalate_case(
            loan="LN404",
            target="legal-referral",
            reason="客户失联",
            operator="王主管",
            as_of=day(5),
        )


def test_escalating_without_a_reason_is_refused_by_the_form(prefect_harness):
    from prefect.exceptions import ParameterTypeError

    from flows.escalate_case import escalate_case

    with pytest.raises(ParameterTypeError, match="reason"):
        escalate_case.validate_parameters(
            {"loan": "LN1", "target": "legal-referral", "reason": "", "operator": "王"}
        )


def test_escalating_a_closed_case_says_when_it_closed(prefect_harness, settings):
    from flows.escalate_case import escalate_case

    add_loan(settings.db_url)
    run_days(settings, day(1), day(2))
    pay(settings.db_url, "LN1", "1000.00", day(3), "P1")
    run_day(settings, day(3))

    with pytest.raises(InvalidRequest, match=f"closed on {day(3)}"):
        escalate_case(
            loan="LN1",
            target="field-visit-today",
            reason="复核",
            operator="王主管",
            as_of=day(4),
        )


def test_a_legal_referral_by_hand_is_audited_with_operator_and_flow_run(
    prefect_harness, settings
):
    from flows.escalate_case import escalate_case

    add_loan(settings.db_url)
    run_days(settings, day(1), day(5))

    state = escalate_case(
        loan="LN1",
        target="legal-referral",
        reason="借款人转移资产",
        operator="王主管",
        as_of=day(5),
        return_state=True,
    )

    run = flow_run(state)
    assert run.name == "escalate-LN1-legal"
    assert {"branch:测试支行", "product:micro-business"} <= set(run.tags)
    with unit_of_work(settings.db_url) as session:
        referral = session.scalars(select(LegalReferral)).one()
        escalation = session.scalars(select(Escalation)).one()
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.event == "escalated")
        ).one()
    assert (referral.state, referral.reason) == ("pending", "by-hand")
    assert escalation.flow_run_id == str(run.id)
    assert (audit.actor, audit.detail["flow_run_id"]) == ("王主管", str(run.id))
    # Contact stops the next day, as for any referral.
    run_day(settings, day(6))
    with unit_of_work(settings.db_url) as session:
        assert not session.scalars(
            select(Action).where(Action.planned_on == day(6))
        ).all()


def test_a_field_visit_today_is_put_on_an_officer_sheet_at_once(
    prefect_harness, settings
):
    from flows.escalate_case import escalate_case

    add_loan(settings.db_url)
    run_days(settings, day(1), day(5))

    escalate_case(
        loan="LN1",
        target="field-visit-today",
        reason="客户称本周有货款到账",
        operator="李组长",
        as_of=day(5),
    )

    with unit_of_work(settings.db_url) as session:
        visit = session.scalars(
            select(Action).where(Action.planned_on == day(5), Action.kind == "visit")
        ).one()
    assert (visit.rule, visit.state.value, visit.outcome) == (
        "escalation",
        "issued",
        "sheet-issued",
    )


def test_an_outcome_from_the_form_records_the_promise_and_the_business_state(
    prefect_harness, settings
):
    from flows.record_outcome import record_visit_outcome

    add_loan(settings.db_url)
    run_days(settings, day(1), day(1))

    state = record_visit_outcome(
        loan="LN1",
        kind="visit",
        outcome="met",
        officer="信贷员甲",
        business_operating=True,
        reason="cash-flow",
        promise_date=day(6),
        promise_amount=Decimal("500.00"),
        notes="货款下周到账",
        return_state=True,
    )

    assert flow_run(state).name == "outcome-LN1-visit"
    with unit_of_work(settings.db_url) as session:
        promise = session.scalars(select(Promise)).one()
        visit = session.scalars(
            select(Action).where(Action.kind == "visit", Action.planned_on == day(1))
        ).one()
    assert (promise.promised_on, promise.amount) == (day(6), Decimal("500.00"))
    assert visit.notes == "business operating. 货款下周到账"


def test_a_notice_not_served_is_planned_again_and_the_proof_reaches_the_file(
    prefect_harness, settings
):
    from flows.serve_notice import record_notice_service

    add_loan(settings.db_url)
    run_days(settings, day(1), day(7))  # DPD 7 is a Saturday here

    first = record_notice_service(
        loan="LN1", served=False, served_by="信贷员甲", notes="店铺关门", on=day(7)
    )
    retry_on = date.fromisoformat(first["retry_on"])
    assert retry_on == date(2026, 11, 9)  # the Monday after
    run_days(settings, day(8), day(9))
    with unit_of_work(settings.db_url) as session:
        notices = session.scalars(
            select(Notice).where(Notice.kind == "overdue").order_by(Notice.id)
        ).all()
    assert [n.issued_on for n in notices] == [day(7), retry_on]

    with pytest.raises(InvalidRequest, match="signed receipt"):
        record_notice_service(
            loan="LN1",
            served=True,
            served_by="信贷员甲",
            served_to="借款人本人",
            how="in-person",
            on=day(9),
        )
    record_notice_service(
        loan="LN1",
        served=True,
        served_by="信贷员甲",
        served_to="借款人本人",
        how="in-person",
        proof="回执 HZ-0001",
        on=day(9),
    )
    run_days(settings, day(10), day(30))

    with unit_of_work(settings.db_url) as session:
        services = session.scalars(select(NoticeService)).all()
        referral = session.scalars(select(LegalReferral)).one()
        from dunning.models import Document

        body = session.get_one(Document, referral.document_id).body
    assert [s.served for s in services] == [False, True]
    assert "回执 HZ-0001" in body and "当面送达（签收回执）" in body


def test_the_timeline_artifact_is_keyed_by_the_loan_and_lists_the_history(
    prefect_harness, settings
):
    from prefect import get_client

    from flows.case_timeline import case_timeline

    add_loan(settings.db_url)
    run_days(settings, day(1), day(8))

    markdown = case_timeline(loan="LN1")

    with unit_of_work(settings.db_url) as session:
        actions = session.scalars(select(Action)).all()
    for action in actions:
        assert f"| {action.id} | {action.planned_on} |" in markdown
    assert "| 2026-11-08 | 8 | ¥1,000.00 | ¥4.00 |" in markdown
    assert "测试客户" not in markdown and "G-LN1" not in markdown
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts()
    assert "case-timeline-ln1" in {a.key for a in artifact}
