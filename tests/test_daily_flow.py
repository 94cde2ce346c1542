"""The daily run under Prefect: once, twice for the same day, and in order."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from dunning.db import unit_of_work
from dunning.generate import write_portfolio
from dunning.importing.canonical import import_canonical
from dunning.models import (
    Action,
    BlacklistEntry,
    Case,
    CaseDay,
    Document,
    LegalReferral,
    Notice,
    Promise,
)

DAY = date(2026, 11, 1)


@pytest.fixture
def portfolio(settings, tmp_path):
    bundle = write_portfolio(tmp_path / "bundle", DAY, loans=80)
    with unit_of_work(settings.db_url) as session:
        report = import_canonical(session, bundle, tmp_path / "import")
    assert not report.rejects
    return settings


def ledger_snapshot(url: str) -> dict[str, list[tuple]]:
    tables = {
        "actions": (
            Action.id,
            Action.case_id,
            Action.kind,
            Action.target,
            Action.planned_on,
            Action.state,
            Action.attempts,
            Action.channel_ref,
            Action.outcome,
            Action.skip_reason,
            Action.finished_at,
        ),
        "cases": (Case.id, Case.state, Case.dpd, Case.arrears, Case.penalty),
        "case_days": (CaseDay.case_id, CaseDay.on, CaseDay.arrears),
        "documents": (Document.id, Document.key, Document.content_hash),
        "notices": (Notice.id, Notice.action_id),
        "referrals": (LegalReferral.id, LegalReferral.case_id),
        "blacklist": (BlacklistEntry.id, BlacklistEntry.case_id),
        "promises": (Promise.id, Promise.state),
    }
    with unit_of_work(url) as session:
        return {
            name: [
                tuple(row)
                for row in session.execute(select(*columns).order_by(columns[0]))
            ]
            for name, columns in tables.items()
        }


def test_running_the_same_day_twice_changes_nothing_the_second_time(
    prefect_harness, portfolio
):
    from flows.daily_run import daily_collection_run

    first = daily_collection_run(as_of=DAY)
    after_first = ledger_snapshot(portfolio.db_url)
    second = daily_collection_run(as_of=DAY)
    after_second = ledger_snapshot(portfolio.db_url)

    assert after_first == after_second
    assert first == second
    # The run did real work the first time: there is something to repeat.
    kinds = {row[2].value for row in after_first["actions"]}
    assert {"call", "visit", "legal_referral"} <= kinds
    assert len(after_first["documents"]) > 0
    outbox_files = list((portfolio.outbox_dir / DAY.isoformat()).rglob("*.*"))
    assert len(outbox_files) == len(after_first["documents"])


def test_a_date_before_the_latest_run_is_refused(prefect_harness, portfolio):
    from dunning.errors import RunOrderError
    from flows.daily_run import daily_collection_run

    daily_collection_run(as_of=date(2026, 11, 2))
    with pytest.raises(RunOrderError, match="2026-11-02"):
        daily_collection_run(as_of=DAY)


def task_runs_of(flow_run_id) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return sorted(run.name.rsplit("-", 1)[0] for run in runs)


def test_task_runs_do_not_grow_with_the_number_of_cases(
    prefect_harness, settings, tmp_path, monkeypatch
):
    from dunning.db import upgrade
    from flows.daily_run import daily_collection_run

    counts = {}
    for loans in (10, 120):
        bundle = write_portfolio(tmp_path / f"b{loans}", DAY, loans=loans, seed=loans)
        url = f"sqlite:///{tmp_path / f'{loans}.db'}"
        upgrade(url)
        with unit_of_work(url) as session:
            import_canonical(session, bundle, tmp_path / f"i{loans}")
        monkeypatch.setenv("DUNNING_DATABASE_URL", url)
        state = daily_collection_run(as_of=DAY, return_state=True)
        cases = state.result()["open"]
        counts[loans] = (cases, task_runs_of(state.state_details.flow_run_id))

    (few_cases, few_tasks), (many_cases, many_tasks) = counts[10], counts[120]
    assert many_cases > 5 * few_cases
    assert few_tasks == many_tasks
    assert few_tasks == sorted(
        [
            "begin-run",
            "refresh-cases",
            "plan-actions",
            "place-calls",
            "schedule-redials",
            "send-texts",
            "issue-visit-sheets",
            "issue-notices",
            "contact-guarantors",
            "reconcile-channel-statuses",
            "refer-to-legal",
            "blacklist-resolved",
            "finish-run",
            "publish-summary",
        ]
    )
