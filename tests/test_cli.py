"""The command line, in-process, against a real SQLite database."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from scenario import DUE, add_loan, run_days
from sqlalchemy import func, select
from typer.testing import CliRunner

from dunning.cli import app
from dunning.db import unit_of_work
from dunning.models import Action, Base, Payment

runner = CliRunner()


def day(dpd: int) -> str:
    return (DUE + timedelta(days=dpd)).isoformat()


def row_counts(url: str) -> dict[str, int]:
    with unit_of_work(url) as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_plan_lists_the_day_and_changes_nothing(settings):
    add_loan(settings.db_url)
    add_loan(settings.db_url, "LN2", guarantor=False)
    before = row_counts(settings.db_url)

    result = invoke("plan", "--as-of", day(4), "--json")

    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {(r["loan"], r["kind"], r["target"], r["state"]) for r in rows} == {
        ("LN1", "visit", "borrower", "new"),
        ("LN1", "guarantor_contact", "guarantor:G-LN1", "new"),
        ("LN2", "visit", "borrower", "new"),
    }
    assert all(r["dpd"] == 4 and r["case"] is None for r in rows)
    assert rows[0]["template"] == "visit/sheet.html"
    assert row_counts(settings.db_url) == before


def test_plan_after_a_run_shows_the_ledger_state(settings):
    add_loan(settings.db_url)
    run_days(settings, DUE + timedelta(days=1), DUE + timedelta(days=1))

    result = invoke("plan", "--as-of", day(1), "--json")

    rows = {
        (r["kind"], r["state"]) for r in map(json.loads, result.stdout.splitlines())
    }
    assert rows == {("visit", "issued"), ("call", "done")}


def test_case_shows_state_arrears_and_history_as_of_a_date(settings):
    add_loan(settings.db_url)
    run_days(settings, DUE + timedelta(days=1), DUE + timedelta(days=8))

    latest = json.loads(invoke("case", "LN1", "--json").stdout)
    earlier = json.loads(invoke("case", "LN1", "--as-of", day(2), "--json").stdout)

    assert (latest["state"], latest["dpd"], latest["arrears"]) == ("open", 8, "1000.00")
    assert latest["penalty"] == "4.00"  # 1000.00 x 8 days x 0.05%
    assert latest["legal_referral"] is None and latest["blacklisted"] is False
    assert [a["kind"] for a in earlier["actions"]] == ["visit", "call", "call"]
    assert earlier["dpd"] == 2


def test_record_a_promise_then_pay_it(settings):
    add_loan(settings.db_url)
    run_days(settings, DUE + timedelta(days=1), DUE + timedelta(days=1))

    recorded = invoke(
        "record",
        "LN1",
        "--kind",
        "visit",
        "--outcome",
        "met",
        "--promise-date",
        day(3),
        "--promise-amount",
        "1000",
        "--reason",
        "market",
    )
    paid = invoke("pay", "LN1", "1000.00", "--on", day(2))

    assert recorded.exit_code == 0, recorded.output
    assert paid.exit_code == 0, paid.output
    case = json.loads(invoke("case", "LN1", "--json").stdout)
    assert case["promises"] == [
        {
            "made_on": day(1),
            "promised_on": day(3),
            "amount": "1000.00",
            "state": "pending",
        }
    ]
    visit = next(a for a in case["actions"] if a["kind"] == "visit")
    assert (visit["state"], visit["outcome"]) == ("done", "met")
    with unit_of_work(settings.db_url) as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 1


def test_operator_mistakes_get_clear_messages(settings):
    add_loan(settings.db_url)
    run_days(settings, DUE + timedelta(days=1), DUE + timedelta(days=1))

    unknown = runner.invoke(
        app, ["record", "LN404", "--kind", "call", "--outcome", "busy"]
    )
    wrong = runner.invoke(app, ["record", "LN1", "--kind", "call", "--outcome", "met"])
    half = runner.invoke(
        app,
        [
            "record",
            "LN1",
            "--kind",
            "call",
            "--outcome",
            "answered",
            "--promise-date",
            day(5),
        ],
    )
    bad_amount = runner.invoke(app, ["pay", "LN1", "12,5", "--on", day(2)])
    bad_date = runner.invoke(app, ["pay", "LN1", "12.50", "--on", "30/11/2026"])

    assert unknown.exit_code == 2 and "LN404" in unknown.output
    assert wrong.exit_code == 2 and "'met' for a call" in wrong.output
    assert half.exit_code == 2 and "--promise-amount" in half.output
    assert bad_amount.exit_code == 2 and "'12,5'" in bad_amount.output
    assert bad_date.exit_code == 2 and "YYYY-MM-DD" in bad_date.output
    with unit_of_work(settings.db_url) as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0
        assert session.scalar(select(func.count()).select_from(Action)) == 2


def test_replay_prints_one_json_summary_of_the_days(prefect_harness, settings):
    add_loan(settings.db_url)

    result = invoke("replay", "--from", day(1), "--to", day(2), "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["from"], summary["to"]) == (day(1), day(2))
    assert summary["actions"] == {"call": {"done": 2}, "visit": {"issued": 1}}
    assert summary["open_by_dpd"] == {
        "1-3": 1,
        "4-6": 0,
        "7-29": 0,
        "30-89": 0,
        "90+": 0,
    }
    assert (summary["resolved"], summary["referred"], summary["blacklisted"]) == (
        0,
        0,
        0,
    )


def test_run_for_a_date_before_the_last_one_is_refused(prefect_harness, settings):
    add_loan(settings.db_url)
    assert invoke("run", "--as-of", day(2), "--json").exit_code == 0

    earlier = runner.invoke(app, ["run", "--as-of", day(1)])

    assert earlier.exit_code == 2
    assert f"the run for {day(2)} has already happened" in earlier.output


def test_amounts_dates_and_promises_outside_what_is_kept_are_refused(settings):
    add_loan(settings.db_url)
    run_days(settings, DUE + timedelta(days=1), DUE + timedelta(days=1))

    tiny = runner.invoke(app, ["pay", "LN1", "0.001", "--on", day(2)])
    exponent = runner.invoke(app, ["pay", "LN1", "1e20", "--on", day(2)])
    week_date = runner.invoke(app, ["pay", "LN1", "5", "--on", "2026-W47-5"])
    future = runner.invoke(app, ["pay", "LN1", "5", "--on", "2099-01-01"])
    far_promise = runner.invoke(
        app,
        [
            "record",
            "LN1",
            "--kind",
            "call",
            "--outcome",
            "answered",
            "--promise-date",
            "2099-12-31",
            "--promise-amount",
            "50",
        ],
    )

    assert tiny.exit_code == 2 and "at least 0.01" in tiny.output
    assert exponent.exit_code == 2 and "'1e20' is not an amount" in exponent.output
    assert week_date.exit_code == 2 and "YYYY-MM-DD" in week_date.output
    assert future.exit_code == 2 and "after today" in future.output
    assert far_promise.exit_code == 2 and "promises.max_days" in far_promise.output
    with unit_of_work(settings.db_url) as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0


def test_a_wrong_number_is_not_called_again(settings):
    add_loan(settings.db_url)
    run_days(settings, DUE + timedelta(days=1), DUE + timedelta(days=1))

    invoke("record", "LN1", "--kind", "call", "--outcome", "wrong-number")
    run_days(settings, DUE + timedelta(days=2), DUE + timedelta(days=2))

    case = json.loads(invoke("case", "LN1", "--json").stdout)
    [call] = [a for a in case["actions"] if a["on"] == day(2)]
    assert (call["state"], call["skip_reason"]) == ("skipped", "contact-wrong-number")


FIXTURES = Path(__file__).parent / "fixtures"


def test_import_with_bad_rows_exits_1_lands_the_good_ones_and_is_audited(settings):
    from dunning.models import AuditEntry, Loan

    result = runner.invoke(app, ["import", str(FIXTURES / "canonical_bad")])

    assert result.exit_code == 1
    assert "rows rejected" in result.output and "rejects.csv" in result.output
    [rejects] = list(settings.imports_dir.glob("*/rejects.csv"))
    assert rejects.read_text(encoding="utf-8").startswith(
        "file,line,column,value,reason"
    )
    with unit_of_work(settings.db_url) as session:
        assert session.scalar(select(func.count()).select_from(Loan)) > 0
        [entry] = session.scalars(select(AuditEntry)).all()
    assert (entry.actor, entry.event, entry.entity_id) == (
        "import",
        "import-canonical",
        "canonical_bad",
    )
    assert entry.detail["rejected"] > 0


def test_import_of_a_missing_folder_says_so(settings, tmp_path):
    result = runner.invoke(app, ["import", str(tmp_path / "nowhere")])

    assert result.exit_code == 2
    assert "nowhere" in result.output


def test_record_without_a_date_closes_the_visit_sheet_awaiting_it(settings):
    add_loan(settings.db_url)
    run_days(settings, DUE + timedelta(days=1), DUE + timedelta(days=2))

    recorded = invoke("record", "LN1", "--kind", "visit", "--outcome", "not-met")

    assert recorded.exit_code == 0, recorded.output
    case = json.loads(invoke("case", "LN1", "--json").stdout)
    visits = [
        (a["on"], a["state"], a["outcome"])
        for a in case["actions"]
        if a["kind"] == "visit"
    ]
    assert visits == [(day(1), "done", "not-met")]
    assert case["as_of"] == day(2)


def test_case_after_resolution_shows_the_resolved_case(settings):
    add_loan(settings.db_url)
    run_days(settings, DUE + timedelta(days=1), DUE + timedelta(days=2))
    invoke("pay", "LN1", "1000.00", "--on", day(3))
    run_days(settings, DUE + timedelta(days=3), DUE + timedelta(days=4))

    later = json.loads(invoke("case", "LN1", "--as-of", day(4), "--json").stdout)

    assert (later["state"], later["resolved_on"], later["arrears"]) == (
        "resolved",
        day(3),
        "0.00",
    )
