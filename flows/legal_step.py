"""The legal department records a recovery step from the Prefect UI."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from prefect import flow
from prefect.runtime import flow_run
from pydantic import BaseModel, Field

from dunning.legal import StepRecord
from dunning.settings import Settings
from flows.daily_run import business_date
from tasks.operators import loan_tags, record_legal_step, tag_this_run

Step = Literal[
    "lawsuit-filed",
    "assets-frozen",
    "judgment",
    "enforcement",
    "settlement-by-guarantor",
    "asset-taken-in-settlement",
    "installment-agreement",
]


class AgreementPart(BaseModel):
    due_on: date
    amount: Annotated[Decimal, Field(gt=0, decimal_places=2)]


def _run_name() -> str:
    loan = str(flow_run.parameters.get("loan", "")).strip()
    return f"legal-{loan}-{flow_run.parameters.get('step', '')}"


@flow(name="record-legal-step", flow_run_name=_run_name)
def record_step(
    loan: Annotated[str, Field(min_length=1, description="Loan number")],
    step: Step,
    recorded_by: Annotated[str, Field(min_length=1, description="Your name")],
    amount: Annotated[
        Decimal | None,
        Field(gt=0, decimal_places=2, description="Settlement amount, to close"),
    ] = None,
    reference: Annotated[str, Field(description="Court or file number")] = "",
    notes: str = "",
    parts: Annotated[
        list[AgreementPart], Field(description="Installment agreement's parts")
    ] = [],  # noqa: B006 - Prefect builds the form's default from it
    on: date | None = None,
) -> dict[str, Any]:
    """Lawsuit, freeze, judgment, enforcement; settlements close, agreements reopen."""
    settings = Settings()
    tag_this_run("legal", *loan_tags(settings, loan.strip()))
    record = StepRecord(
        step=step,
        on=on or business_date(settings),
        recorded_by=recorded_by,
        amount=amount,
        reference=reference,
        notes=notes,
        parts=tuple((p.due_on, p.amount) for p in parts),
    )
    return record_legal_step(settings, loan.strip(), record)
