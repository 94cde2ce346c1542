"""Refreshing cases and planning the day."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import task

from dunning import daily
from dunning.settings import Settings
from tasks.retry import unless_refused

# Each step is idempotent for its date, so a retry after a lost connection or a
# locked database does no harm.
RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": unless_refused,
}


@task(name="begin-run", **RETRIES)
def begin_run(settings: Settings, as_of: date, flow_run_id: str) -> None:
    daily.begin_run(daily.RunContext(settings), as_of, flow_run_id)


@task(name="refresh-cases", **RETRIES)
def refresh_cases(settings: Settings, as_of: date) -> dict[str, int]:
    return daily.refresh(daily.RunContext(settings), as_of)


@task(name="plan-actions", **RETRIES)
def plan_actions(settings: Settings, as_of: date) -> dict[str, int]:
    return daily.plan(daily.RunContext(settings), as_of)
