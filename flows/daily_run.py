"""The daily collection run: every open case, every morning."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from dunning.settings import Settings
from tasks.cases import begin_run, plan_actions, refresh_cases
from tasks.contacts import (
    contact_guarantors,
    issue_notices,
    issue_visit_sheets,
    place_calls,
    reconcile_statuses,
    schedule_redials,
    send_texts,
)
from tasks.legal import blacklist_resolved, refer_to_legal
from tasks.report import finish_run, publish_summary


def business_date(settings: Settings, now: datetime | None = None) -> date:
    """Today where the lender is, not where the worker's clock is."""
    if settings.today is not None:
        return settings.today
    return (
        (now or datetime.now(ZoneInfo(settings.timezone)))
        .astimezone(ZoneInfo(settings.timezone))
        .date()
    )


def _run_name() -> str:
    as_of = flow_run.parameters.get("as_of")
    return f"daily-{as_of or 'today'}"


@flow(name="daily-collection-run", flow_run_name=_run_name, log_prints=False)
def daily_collection_run(as_of: date | None = None) -> dict[str, Any]:
    """Refresh cases, plan the day, carry it out, refer, blacklist, report."""
    settings = Settings()
    day = as_of or business_date(settings)
    logger = get_run_logger()

    begin_run(settings, day, str(flow_run.id or ""))
    refreshed = refresh_cases(settings, day)
    planned = plan_actions(settings, day)
    logger.info("%s: %s; %s", day, refreshed, planned)

    place_calls(settings, day)
    schedule_redials(settings, day)
    send_texts(settings, day)
    issue_visit_sheets(settings, day)
    issue_notices(settings, day)
    contact_guarantors(settings, day)
    # Outcomes of earlier calls and texts no callback brought in.
    reconcile_statuses(settings)

    refer_to_legal(settings, day)
    blacklist_resolved(settings, day)

    summary = finish_run(settings, day)
    publish_summary(summary, day)
    logger.info(
        "%s: %d open, %d referred, %d resolved, %d blacklisted",
        day,
        summary["open"],
        summary["referred"],
        summary["resolved"],
        summary["blacklisted"],
    )
    return summary
