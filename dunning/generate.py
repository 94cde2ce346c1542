"""A generated portfolio, for when the real sample is not at hand.

Everything here is made up and says so: names carry （生成）, numbers come
from the North American fictional range 555-0100..555-0199.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

AREA_CODES = (201, 202, 212, 213, 305, 312, 415, 503, 617, 702)


def fictional_number(index: int) -> str:
    area = AREA_CODES[(index // 100) % len(AREA_CODES)]
    return f"+1{area}55501{index % 100:02d}"


def write_portfolio(folder: Path, start: date, loans: int = 400, seed: int = 7) -> Path:
    """Write a canonical CSV bundle of ``loans`` monthly-installment loans."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        name: (folder / f"{name}.csv").open("w", newline="", encoding="utf-8")
        for name in ("borrowers", "loans", "guarantors", "installments", "payments")
    }
    try:
        out = {name: csv.writer(handle) for name, handle in files.items()}
        out["borrowers"].writerow(
            ["borrower_id", "name", "phone", "address", "country"]
        )
        out["loans"].writerow(
            [
                "loan_id",
                "borrower_id",
                "product",
                "principal",
                "currency",
                "branch",
                "officer",
            ]
        )
        out["guarantors"].writerow(["guarantor_id", "loan_id", "kind", "name", "phone"])
        out["installments"].writerow(["loan_id", "seq", "due_on", "amount"])
        out["payments"].writerow(["payment_id", "loan_id", "paid_on", "amount"])
        for n in range(loans):
            borrower, loan = f"B{n:05d}", f"LN{n:05d}"
            out["borrowers"].writerow(
                [
                    borrower,
                    f"样例客户{n}（生成）",
                    fictional_number(n),
                    f"（生成）样例路{n}号",
                    "US",
                ]
            )
            amount = Decimal(rng.randrange(500, 5000)) + Decimal("0.50")
            out["loans"].writerow(
                [
                    loan,
                    borrower,
                    "micro-business",
                    amount * 12,
                    "CNY",
                    f"样例支行{n % 3}（生成）",
                    f"信贷员{n % 5}（生成）",
                ]
            )
            if n % 3 == 0:
                out["guarantors"].writerow(
                    [
                        f"G{n:05d}",
                        loan,
                        "guarantor",
                        f"样例担保人{n}（生成）",
                        fictional_number(n + 500),
                    ]
                )
            # Loans started before the demo month; some stop paying during it.
            first_due = start - timedelta(days=rng.randrange(60, 200))
            stops = rng.random() < 0.3
            for seq in range(12):
                due_on = first_due + timedelta(days=30 * seq)
                out["installments"].writerow([loan, seq + 1, due_on, amount])
                late = rng.choice((0, 0, 0, 2, 5, 12))
                if (
                    stops and due_on > start - timedelta(days=rng.randrange(0, 90))
                ) or (due_on + timedelta(days=late) > start + timedelta(days=29)):
                    continue
                out["payments"].writerow(
                    [f"P{n:05d}-{seq + 1}", loan, due_on + timedelta(days=late), amount]
                )
    finally:
        for handle in files.values():
            handle.close()
    return folder
