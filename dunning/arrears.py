"""Arrears, days past due and penalty interest of one loan on one business date.

The rules are pinned so that anyone can check them by hand:

- installments with a due date before the business date D are due;
- payments dated on or before D are applied to the oldest due installment
  first (FIFO), any excess waiting for the next installment to fall due;
- arrears = sum due - sum paid, floored at zero;
- DPD = D - due date of the oldest due installment not fully covered; 0 when
  nothing is overdue;
- penalty interest accrues each day t <= D of the current overdue episode on
  that day's arrears at the product's daily rate, and is rounded half-up to
  cents once, at the end. The episode is the unbroken run of days with arrears
  ending at D. Payments are applied to installments, not to penalty.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0")
ONE_DAY = timedelta(days=1)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Position:
    """Where a loan stands on a business date."""

    as_of: date
    due: Decimal
    paid: Decimal
    arrears: Decimal
    dpd: int
    # Due date of the oldest installment not fully covered, when overdue.
    oldest_unpaid_due_on: date | None
    penalty: Decimal
    # First day of the current overdue episode, when overdue.
    overdue_since: date | None

    @property
    def overdue(self) -> bool:
        return self.arrears > ZERO


def position(
    installments: Iterable[tuple[date, Decimal]],
    payments: Iterable[tuple[date, Decimal]],
    as_of: date,
    daily_rate: Decimal = ZERO,
) -> Position:
    """The loan's position on ``as_of`` from its schedule and payments."""
    schedule = sorted((due_on, amount) for due_on, amount in installments)
    paid_in = sorted(
        (paid_on, amount) for paid_on, amount in payments if paid_on <= as_of
    )

    due_rows = [(due_on, amount) for due_on, amount in schedule if due_on < as_of]
    total_due = sum((amount for _, amount in due_rows), ZERO)
    total_paid = sum((amount for _, amount in paid_in), ZERO)
    arrears = max(total_due - total_paid, ZERO)

    oldest = _oldest_uncovered(due_rows, total_paid)
    dpd = (as_of - oldest).days if oldest is not None and arrears > ZERO else 0

    since, penalty_base = _episode(due_rows, paid_in, as_of)
    return Position(
        as_of=as_of,
        due=total_due,
        paid=total_paid,
        arrears=arrears,
        dpd=dpd,
        oldest_unpaid_due_on=oldest if dpd else None,
        penalty=cents(penalty_base * daily_rate),
        overdue_since=since,
    )


def _oldest_uncovered(
    due_rows: list[tuple[date, Decimal]], total_paid: Decimal
) -> date | None:
    covered = total_paid
    for due_on, amount in due_rows:
        if covered < amount:
            return due_on
        covered -= amount
    return None


def _episode(
    due_rows: list[tuple[date, Decimal]],
    paid_in: list[tuple[date, Decimal]],
    as_of: date,
) -> tuple[date | None, Decimal]:
    """First day of the overdue episode ending on ``as_of`` and its arrears-days.

    Arrears change only on the day after a due date (an installment falls due)
    and on a payment date, so the daily sum is taken over those steps rather
    than day by day: long-overdue loans cost as much as recent ones.
    """
    changes: dict[date, Decimal] = {}
    for due_on, amount in due_rows:
        day = due_on + ONE_DAY
        changes[day] = changes.get(day, ZERO) + amount
    for paid_on, amount in paid_in:
        changes[paid_on] = changes.get(paid_on, ZERO) - amount

    balance = ZERO
    since: date | None = None
    accrued = ZERO
    days = sorted(changes)
    for index, day in enumerate(days):
        balance += changes[day]
        # Arrears stay at this level until the next change or through as_of.
        until = days[index + 1] if index + 1 < len(days) else as_of + ONE_DAY
        arrears = max(balance, ZERO)
        if arrears > ZERO:
            if since is None:
                since = day
            accrued += arrears * (until - day).days
        else:
            since = None
            accrued = ZERO
    return since, accrued


@dataclass(frozen=True)
class InstallmentStatus:
    due_on: date
    amount: Decimal
    paid: Decimal

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.paid


def allocate(
    installments: Iterable[tuple[date, Decimal]],
    payments: Iterable[tuple[date, Decimal]],
    as_of: date,
) -> list[InstallmentStatus]:
    """Every installment with what FIFO has paid of it by ``as_of``."""
    available = sum((amount for paid_on, amount in payments if paid_on <= as_of), ZERO)
    statuses = []
    for due_on, amount in sorted(installments):
        paid = min(amount, available)
        available -= paid
        statuses.append(InstallmentStatus(due_on, amount, paid))
    return statuses
