"""Recording the service of a notice from the Prefect UI: on whom, how, proof."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from prefect import flow
from prefect.runtime import flow_run
from pydantic import Field

from dunning.serving import ServiceRecord
from dunning.settings import Settings
from flows.daily_run import business_date
from tasks.operators import loan_tags, serve_notice, tag_this_run


def _run_name() -> str:
    loan = str(flow_run.parameters.get("loan", "")).strip()
    return f"serve-notice-{loan}"


@flow(name="serve-notice", flow_run_name=_run_name)
def record_notice_service(
    loan: Annotated[str, Field(min_length=1, description="Loan number")],
    served: bool,
    served_by: Annotated[str, Field(min_length=1, description="Who served it")],
    served_to: str = "",
    how: Literal["in-person", "registered-mail"] | None = None,
    proof: Annotated[
        str, Field(description="Signed receipt number, or mail tracking number")
    ] = "",
    notes: str = "",
    notice_id: int | None = None,
    on: date | None = None,
) -> dict[str, Any]:
    """Served (in person or by registered mail) or not; not served is retried."""
    settings = Settings()
    tag_this_run("notice", *loan_tags(settings, loan.strip()))
    record = ServiceRecord(
        on=on or business_date(settings),
        served=served,
        served_by=served_by,
        served_to=served_to,
        how=how or "",
        proof=proof,
        notes=notes,
    )
    return serve_notice(settings, loan.strip(), notice_id, record, served_by)
