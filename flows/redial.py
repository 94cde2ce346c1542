"""Re-dials of the day's unanswered calls, run at the hours the daily run set."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from dunning.settings import Settings
from flows.daily_run import business_date
from tasks.contacts import place_calls, plan_redials, refresh_call_statuses


def _run_name() -> str:
    return f"redial-{flow_run.parameters.get('as_of') or 'today'}"


@flow(name="redial-calls", flow_run_name=_run_name, log_prints=False)
def redial_calls(as_of: date | None = None) -> dict[str, Any]:
    """Learn how the day's calls ended, plan the next tries, place them."""
    settings = Settings()
    day = as_of or business_date(settings)
    statuses = refresh_call_statuses(settings)
    planned = plan_redials(settings, day)
    placed = place_calls(settings, day)
    get_run_logger().info("%s: %s; %s; %s", day, statuses, planned, placed)
    return {"statuses": statuses, "planned": planned, "placed": placed}
