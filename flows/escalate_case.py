"""An operator escalates a case from the Prefect UI's form (or the command line)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import Field

from dunning.escalation import SHORT
from dunning.settings import Settings
from flows.daily_run import business_date
from tasks.operators import escalate, loan_tags, tag_this_run

Target = Literal["supervisor-review", "field-visit-today", "legal-referral"]


def _run_name() -> str:
    loan = str(flow_run.parameters.get("loan", "")).strip() or "unknown"
    target = str(flow_run.parameters.get("target", ""))
    return f"escalate-{loan}-{SHORT.get(target, target)}"


@flow(name="escalate-case", flow_run_name=_run_name)
def escalate_case(
    loan: Annotated[
        str,
        Field(min_length=1, description="Loan number, or case:<number>"),
    ],
    target: Annotated[Target, Field(description="What the case needs now")],
    reason: Annotated[
        str, Field(min_length=1, description="Why: it goes to the audit log")
    ],
    operator: Annotated[str, Field(min_length=1, description="Your name")],
    as_of: date | None = None,
) -> dict[str, Any]:
    """Supervisor review, a field visit today, or a legal referral by hand."""
    settings = Settings()
    day = as_of or business_date(settings)
    tag_this_run("escalation", *loan_tags(settings, loan.strip()))
    result = escalate(
        settings,
        loan.strip(),
        target,
        reason,
        operator,
        day,
        str(flow_run.id or ""),
    )
    get_run_logger().info(
        "loan %s escalated to %s by %s (escalation %s)",
        result["loan"],
        result["target"],
        operator,
        result["escalation"],
    )
    return result
