"""One loan's case history as a markdown artifact keyed by the loan."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.runtime import flow_run
from pydantic import Field

from dunning.settings import Settings
from tasks.operators import loan_tags, publish_timeline, tag_this_run


def _run_name() -> str:
    return f"timeline-{str(flow_run.parameters.get('loan', '')).strip()}"


@flow(name="case-timeline", flow_run_name=_run_name)
def case_timeline(
    loan: Annotated[str, Field(min_length=1, description="Loan number")],
) -> str:
    """Arrears over time, every action and outcome, promises, notices, escalations."""
    settings = Settings()
    tag_this_run("timeline", *loan_tags(settings, loan.strip()))
    return publish_timeline(settings, loan.strip())
