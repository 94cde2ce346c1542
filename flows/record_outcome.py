"""An officer records a field visit's or a call's outcome from the Prefect UI."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from prefect import flow
from prefect.runtime import flow_run
from pydantic import Field

from dunning.db import unit_of_work
from dunning.operations import Outcome
from dunning.settings import Settings
from flows.daily_run import business_date
from tasks.operators import loan_tags, record_outcome, tag_this_run

OutcomeWord = Literal[
    "met",
    "not-met",
    "business-closed",
    "refused",
    "answered",
    "no-answer",
    "busy",
    "wrong-number",
]
Reason = Literal["cash-flow", "market", "family", "fraud", "unknown"]


def _run_name() -> str:
    loan = str(flow_run.parameters.get("loan", "")).strip() or "unknown"
    return f"outcome-{loan}-{flow_run.parameters.get('kind', '')}"


def outcome_notes(business_operating: bool | None, notes: str) -> str:
    if business_operating is None:
        return notes.strip()
    state = "business operating" if business_operating else "business not operating"
    return f"{state}. {notes.strip()}".strip()


@flow(name="record-outcome", flow_run_name=_run_name)
def record_visit_outcome(
    loan: Annotated[str, Field(min_length=1, description="Loan number")],
    kind: Literal["visit", "call"],
    outcome: Annotated[
        OutcomeWord,
        Field(
            description="visit: met, not-met, business-closed, refused; "
            "call: answered, no-answer, busy, wrong-number, refused"
        ),
    ],
    officer: Annotated[str, Field(min_length=1, description="Your name")],
    business_operating: bool | None = None,
    reason: Reason | None = None,
    promise_date: date | None = None,
    promise_amount: Annotated[Decimal | None, Field(gt=0, decimal_places=2)] = None,
    notes: str = "",
    on: date | None = None,
) -> dict[str, Any]:
    """Met or not, is the business running, why overdue, and any promise to pay."""
    settings = Settings()
    if on is None:
        from dunning.daily import latest_run

        with unit_of_work(settings.db_url) as session:
            on = latest_run(session) or business_date(settings)
    tag_this_run("outcome", *loan_tags(settings, loan.strip()))
    result = Outcome(
        kind=kind,
        outcome=outcome,
        on=on,
        officer=officer,
        notes=outcome_notes(business_operating, notes),
        promise_date=promise_date,
        promise_amount=promise_amount,
        reason=reason,
    )
    return record_outcome(settings, loan.strip(), result, officer)
