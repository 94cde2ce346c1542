"""The default playbook, walked day by day, without Prefect or a database."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from dunning.errors import ConfigError
from dunning.playbook import CaseView, check_promise, load_playbook, plan_day
from dunning.settings import Settings

PLAYBOOK = load_playbook(Settings().playbook_path)
DUE = date(2026, 10, 31)


ALL_RULES = frozenset(rule.name for rule in PLAYBOOK.rules)


def steps_on(dpd: int, **case) -> set[tuple[str, str]]:
    """The day's steps, for a case whose earlier fixed-day steps all happened."""
    case.setdefault("done_rules", ALL_RULES)
    view = CaseView(case_id=1, loan_id="LN1", product="any", dpd=dpd, **case)
    return {
        (s.kind, s.target) for s in plan_day(view, PLAYBOOK, DUE + timedelta(dpd)).steps
    }


def test_unpaid_case_walked_from_dpd_0_to_40():
    guarantor = "guarantor:G1"
    walk, done = {}, frozenset()
    for dpd in range(41):
        view = CaseView(1, "LN1", "any", dpd, guarantor_ids=("G1",), done_rules=done)
        plan = plan_day(view, PLAYBOOK, DUE + timedelta(dpd))
        walk[dpd] = {(s.kind, s.target) for s in plan.steps}
        # What the ledger now holds, as the next day's planning will see it.
        done |= {s.rule for s in plan.steps} | {s.rule for s in plan.skips}

    assert walk[0] == set()
    assert walk[1] == {("visit", "borrower"), ("call", "borrower")}
    assert walk[2] == walk[3] == {("call", "borrower")}
    assert walk[4] == {("visit", "borrower"), ("guarantor_contact", guarantor)}
    assert walk[5] == walk[6] == set()
    assert walk[7] == {("notice", "borrower"), ("sms", "borrower")}
    # From DPD 8 a call every day; the guarantor is asked to pay weekly.
    for dpd in range(8, 30):
        expected = {("call", "borrower")}
        if (dpd - 8) % 7 == 0:
            expected.add(("guarantor_contact", guarantor))
        assert walk[dpd] == expected, dpd
    # At the legal threshold the case is referred and contact stops.
    for dpd in range(30, 41):
        assert walk[dpd] == {("legal_referral", "borrower")}, dpd


def test_referral_records_the_contacts_it_stops():
    view = CaseView(
        case_id=1, loan_id="LN1", product="any", dpd=36, guarantor_ids=("G1",)
    )
    plan = plan_day(view, PLAYBOOK, DUE + timedelta(36))

    assert {(s.kind, s.reason) for s in plan.skips} == {
        ("call", "referred-to-legal"),
        ("guarantor_contact", "referred-to-legal"),
    }


def test_a_case_already_in_legal_gets_no_contact():
    assert steps_on(45, in_legal=True) == set()


def test_guarantor_steps_need_a_guarantor():
    assert steps_on(4) == {("visit", "borrower")}


def test_fraud_goes_to_legal_at_once():
    assert steps_on(2, reason="fraud") == {("legal_referral", "borrower")}


def test_pending_promise_suspends_calls_until_the_promised_date():
    promised = DUE + timedelta(days=12)
    view = CaseView(
        case_id=1,
        loan_id="LN1",
        product="x",
        dpd=10,
        promise_due=promised,
        done_rules=ALL_RULES,
    )

    held = plan_day(view, PLAYBOOK, DUE + timedelta(days=10))
    on_the_day = plan_day(view, PLAYBOOK, promised)
    after = plan_day(view, PLAYBOOK, promised + timedelta(days=1))

    assert held.steps == () and [s.reason for s in held.skips] == ["promise-pending"]
    assert on_the_day.steps == ()
    assert [s.kind for s in after.steps] == ["call"]


def test_broken_promise_resumes_calls_and_sends_a_visit():
    assert steps_on(12, promise_broken_today=True) == {
        ("call", "borrower"),
        ("visit", "borrower"),
    }


def test_promise_kept_only_when_paid_in_full_by_its_date():
    made, due = date(2026, 11, 5), date(2026, 11, 10)
    amount = Decimal("500.00")
    partial = [(date(2026, 11, 8), Decimal("300.00"))]
    full = [*partial, (date(2026, 11, 10), Decimal("200.00"))]
    late = [*partial, (date(2026, 11, 11), Decimal("200.00"))]

    assert (
        check_promise(made, due, amount, partial, date(2026, 11, 9), 0).state
        == "pending"
    )
    assert (
        check_promise(made, due, amount, partial, date(2026, 11, 11), 0).state
        == "broken"
    )
    assert check_promise(made, due, amount, full, date(2026, 11, 10), 0).state == "kept"
    assert (
        check_promise(made, due, amount, late, date(2026, 11, 11), 0).state == "broken"
    )
    # A day of grace lets the late payment keep it.
    assert check_promise(made, due, amount, late, date(2026, 11, 11), 1).state == "kept"


def test_product_thresholds_come_from_config(tmp_path):
    text = Settings().playbook_path.read_text(encoding="utf-8")
    text = text.replace(
        "products:\n",
        "products:\n"
        "  pawn:\n"
        '    penalty_daily_rate: "0.001"\n'
        "    legal_threshold_dpd: 15\n",
    )
    path = tmp_path / "playbook.yaml"
    path.write_text(text, encoding="utf-8")
    playbook = load_playbook(path)

    view = CaseView(case_id=1, loan_id="LN1", product="pawn", dpd=15)
    assert [s.kind for s in plan_day(view, playbook, DUE).steps] == ["legal_referral"]
    assert playbook.terms("pawn").penalty_daily_rate == Decimal("0.001")
    assert playbook.terms("other").legal_threshold_dpd == 30


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("kind: visit", "kind: telegram", "rules[0].kind = 'telegram'"),
        (
            'min_overdue_amount: "1.00"',
            "min_overdue_amount: lots",
            "min_overdue_amount",
        ),
        ("from_dpd: 1\n", "from_dpd: -1\n", "rules[1].from_dpd = -1"),
    ],
)
def test_bad_playbook_lines_are_named(tmp_path, old, new, message):
    path = tmp_path / "playbook.yaml"
    path.write_text(
        Settings().playbook_path.read_text(encoding="utf-8").replace(old, new, 1),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_playbook(path)

    assert str(path) in str(error.value) and message in str(error.value)


def test_a_case_first_seen_late_still_gets_its_missed_notice_and_visits():
    late = steps_on(19, guarantor_ids=("G1",), done_rules=frozenset())

    assert late == {
        ("visit", "borrower"),
        ("call", "borrower"),
        ("guarantor_contact", "guarantor:G1"),
        ("notice", "borrower"),
        ("sms", "borrower"),
    }


def test_a_case_first_seen_past_the_threshold_is_referred_without_catching_up():
    view = CaseView(1, "LN1", "any", 45, guarantor_ids=("G1",))
    plan = plan_day(view, PLAYBOOK, DUE + timedelta(45))

    assert [s.kind for s in plan.steps] == ["legal_referral"]
    # Only the contacts due that day are recorded as stopped, not every missed one.
    assert {s.rule for s in plan.skips} == {"daily-calls"}
