"""The Home Credit sample, imported and refreshed as of 2026-11-30.

Expected values are worked by hand from the CSV rows quoted in each comment
(line number, version, number, DAYS_INSTALMENT, DAYS_ENTRY_PAYMENT,
AMT_INSTALMENT, AMT_PAYMENT). Day 0 is 2026-12-01, so the business date
2026-11-30 is day -1 and an installment is due when its day is before -1.
Amounts are rounded half-up to cents before any sum.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from conftest import HOME_CREDIT
from sqlalchemy import func, select

from dunning.arrears import position
from dunning.cases import loan_positions, refresh_cases
from dunning.db import unit_of_work
from dunning.importing import import_home_credit
from dunning.importing.home_credit import HomeCreditConfig
from dunning.models import Case, Installment, Payment
from dunning.playbook import load_playbook

pytestmark = pytest.mark.skipif(
    not HOME_CREDIT.exists(), reason=f"real sample not found at {HOME_CREDIT}"
)
AS_OF = date(2026, 11, 30)
D = Decimal


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    """The sample imported into a fresh database and refreshed once."""
    from dunning.db import upgrade
    from dunning.settings import Settings

    home = tmp_path_factory.mktemp("sample")
    url = f"sqlite:///{home / 'dunning.db'}"
    upgrade(url)
    settings = Settings(home=home, database_url=url)
    playbook = load_playbook(settings.playbook_path)
    with unit_of_work(url) as session:
        report = import_home_credit(
            session,
            HOME_CREDIT,
            home / "import",
            HomeCreditConfig.load(settings.adapters_path),
        )
        assert not report.rejects
    with unit_of_work(url) as session:
        refresh_cases(session, AS_OF, playbook)
    return url, playbook


def case_of(url: str, loan_id: str) -> Case | None:
    with unit_of_work(url) as session:
        return session.scalar(select(Case).where(Case.loan_id == loan_id))


# (loan, arrears, dpd) worked out by hand:
HAND_WORKED = [
    # 6948 0 7 -2135 -2134 7875.0 3825.0 / 8386 0 27 -1618 -1618 18.9 18.9
    # 18645 0 80 -4 -4 18.9 18.9
    # due 7875.00 + 18.90 + 18.90 = 7912.80; paid 3825.00 + 18.90 + 18.90 = 3862.80
    # arrears 4050.00. FIFO: 3862.80 < 7875.00, so the oldest installment (day
    # -2135 = 2021-01-26) is not covered: DPD = -1 - (-2135) = 2134.
    ("1923021", D("4050.00"), 2134),
    # 15330 1 10 -497 -499 22226.355 22226.355 / 11121 1 16 -317 -317 22226.355
    # 22226.355 / 8066 1 25 -47 -45 22226.355 19887.975
    # each installment 22226.36; due 66679.08; paid 22226.36 x 2 + 19887.98 =
    # 64340.70; arrears 2338.38. The first two are covered, 19887.98 is left for
    # the third (day -47 = 2026-10-15): DPD = 46.
    ("2178853", D("2338.38"), 46),
    # 12270 0 65 -1354 -1360 7875.0 6750.0 / 11235 0 81 -1017 -1017 40.095 40.095
    # 17854 0 113 -42 -42 40.095 40.095
    # due 7875.00 + 40.10 + 40.10 = 7955.20; paid 6750.00 + 40.10 + 40.10 =
    # 6830.20; arrears 1125.00. 6830.20 < 7875.00: the day -1354 installment
    # (2023-03-18) is the oldest not covered: DPD = 1353.
    ("2283662", D("1125.00"), 1353),
    # 18519 2 20 -160 -157 13913.325 9243.585 / 19499 2 23 -70 -94 13913.325
    # 4818.6 / 14764 2 24 -40 -65 13913.325 5154.03
    # each installment 13913.33; due 41739.99; paid 9243.59 + 4818.60 + 5154.03 =
    # 19216.22; arrears 22523.77. 19216.22 covers the first (day -160) and leaves
    # 5302.89 for the second (day -70 = 2026-09-22): DPD = 69.
    ("2756411", D("22523.77"), 69),
    # 9593 0 8 -1091 -1091 3918.825 3918.825 / 13513 0 27 -787 -795 6095.52
    # 6095.52 / 1421 0 47 -481 -490 18493.605 18493.605 / 12652 0 75 -62 -62
    # 4278.015 4278.015 / 230 0 74 -57 -62 225.0 221.985
    # due 3918.83 + 6095.52 + 18493.61 + 4278.02 + 225.00 = 33010.98; paid
    # 3918.83 + 6095.52 + 18493.61 + 4278.02 + 221.99 = 33007.97; arrears 3.01
    # (above the 1.00 minimum). Running sums by due date reach 32785.98 before
    # the day -57 installment (2026-10-05), which is 3.01 short: DPD = 56.
    ("2262339", D("3.01"), 56),
    # 2882 1 8 -196 -198 6891.075 6887.475 / 86 1 14 -16 -19 6891.075 6891.075
    # each installment 6891.08; due 13782.16; paid 6887.48 + 6891.08 = 13778.56;
    # arrears 3.60. The first is covered, 6887.48 is left for the second (day
    # -16 = 2026-11-15), 3.60 short: DPD = 15.
    ("1626288", D("3.60"), 15),
    # 6872 12 10 -247 (no payment) 99.045
    # due 99.05, nothing paid: arrears 99.05, DPD = -1 - (-247) = 246.
    ("1391295", D("99.05"), 246),
]


@pytest.mark.parametrize(("loan_id", "arrears", "dpd"), HAND_WORKED)
def test_arrears_and_dpd_of_real_loans_match_the_hand_worked_values(
    refreshed, loan_id, arrears, dpd
):
    url, _ = refreshed
    case = case_of(url, loan_id)

    assert case is not None, loan_id
    assert (case.arrears, case.dpd, case.state.value) == (arrears, dpd, "open")


def test_penalty_of_a_real_loan_matches_the_hand_worked_value(refreshed):
    # 1391295: 99.05 overdue every day from day -246 (2026-03-30) to day -1,
    # 246 days: 99.05 x 246 x 0.0005 = 12.18315 -> 12.18
    case = case_of(refreshed[0], "1391295")

    assert case.penalty == D("12.18")
    assert case.overdue_since == date(2026, 3, 30)


def test_a_loan_paid_in_two_rows_of_one_installment_is_not_overdue(refreshed):
    # 692 1 12 -2074 -2093 5202.945 0.99 / 10521 1 12 -2074 -2058 5202.945
    # 5201.955: one installment of 5202.95 (the two rows repeat it), paid
    # 0.99 + 5201.96 = 5202.95: nothing owed, no case.
    assert case_of(refreshed[0], "2758924") is None


def test_the_database_selection_agrees_with_the_pinned_rules_on_every_loan(refreshed):
    url, playbook = refreshed
    with unit_of_work(url) as session:
        selected = loan_positions(session, AS_OF, playbook)
        schedules: dict[str, list] = {}
        for loan_id, due_on, amount in session.execute(
            select(Installment.loan_id, Installment.due_on, Installment.amount)
        ):
            schedules.setdefault(loan_id, []).append((due_on, amount))
        payments: dict[str, list] = {}
        for loan_id, paid_on, amount in session.execute(
            select(Payment.loan_id, Payment.paid_on, Payment.amount)
        ):
            payments.setdefault(loan_id, []).append((paid_on, amount))
        open_cases = session.scalar(select(func.count()).select_from(Case))

    by_rules = {
        loan_id
        for loan_id, schedule in schedules.items()
        if position(schedule, payments.get(loan_id, []), AS_OF).arrears
        >= playbook.min_overdue_amount
    }
    assert set(selected) == by_rules
    assert open_cases == len(by_rules)
    # About 1,750 of the sample's loans are overdue on its last day.
    assert 1600 < open_cases < 1900
