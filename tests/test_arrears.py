"""The pinned arrears, DPD and penalty rules, checked on values worked by hand."""

from datetime import date
from decimal import Decimal

from dunning.arrears import allocate, position

D = Decimal
RATE = D("0.0005")
SCHEDULE = [(date(2026, 10, 31), D("1000.00")), (date(2026, 11, 30), D("1000.00"))]


def test_nothing_is_due_on_the_due_date_itself():
    pos = position(SCHEDULE, [], date(2026, 10, 31), RATE)

    assert (pos.arrears, pos.dpd, pos.penalty) == (D("0"), 0, D("0.00"))


def test_first_day_after_due_date_is_dpd_one_with_one_day_of_penalty():
    pos = position(SCHEDULE, [], date(2026, 11, 1), RATE)

    # 1000.00 overdue for one day at 0.05% = 0.50
    assert (pos.arrears, pos.dpd, pos.penalty) == (D("1000.00"), 1, D("0.50"))
    assert pos.overdue_since == date(2026, 11, 1)


def test_partial_payment_lowers_arrears_but_not_dpd():
    pos = position(
        SCHEDULE, [(date(2026, 11, 5), D("400.00"))], date(2026, 11, 10), RATE
    )

    # Nov 1-4: 1000.00 x 4 days; Nov 5-10: 600.00 x 6 days
    # penalty = (4000 + 3600) x 0.0005 = 3.80
    assert (pos.arrears, pos.dpd, pos.penalty) == (D("600.00"), 10, D("3.80"))


def test_payments_apply_to_the_oldest_installment_first():
    payments = [(date(2026, 12, 2), D("1500.00"))]
    pos = position(SCHEDULE, payments, date(2026, 12, 5), RATE)

    # Due 2000.00, paid 1500.00: the October installment is covered, the
    # November one is 500.00 short and is the oldest not covered: Dec 5 - Nov 30.
    assert (pos.arrears, pos.dpd) == (D("500.00"), 5)
    assert pos.oldest_unpaid_due_on == date(2026, 11, 30)


def test_payment_after_the_date_is_not_applied():
    pos = position(SCHEDULE, [(date(2026, 11, 11), D("1000.00"))], date(2026, 11, 10))

    assert (pos.arrears, pos.dpd) == (D("1000.00"), 10)


def test_paying_everything_ends_the_episode_and_its_penalty():
    payments = [(date(2026, 11, 3), D("1000.00"))]
    pos = position(SCHEDULE, payments, date(2026, 11, 20), RATE)

    assert (pos.arrears, pos.dpd, pos.penalty, pos.overdue_since) == (
        D("0"),
        0,
        D("0.00"),
        None,
    )


def test_overpayment_waits_for_the_next_installment():
    payments = [(date(2026, 11, 3), D("1500.00"))]
    pos = position(SCHEDULE, payments, date(2026, 12, 1), RATE)

    assert (pos.arrears, pos.dpd) == (D("500.00"), 1)


def test_penalty_rounds_half_up_once_at_the_end():
    pos = position([(date(2026, 11, 1), D("0.01"))], [], date(2026, 11, 2), RATE)
    # 0.01 x 1 day x 0.0005 = 0.000005 -> 0.00
    assert pos.penalty == D("0.00")
    pos = position([(date(2026, 1, 1), D("10.00"))], [], date(2026, 1, 2), D("0.00125"))
    # 10.00 x 0.00125 = 0.0125 -> 0.01 (half-up at the third place only)
    assert pos.penalty == D("0.01")


def test_allocate_shows_what_each_installment_has_received():
    rows = allocate(SCHEDULE, [(date(2026, 11, 2), D("1200.00"))], date(2026, 12, 1))

    assert [(r.paid, r.outstanding) for r in rows] == [
        (D("1000.00"), D("0.00")),
        (D("200.00"), D("800.00")),
    ]
