"""The run's summary, recorded and shown in the Prefect UI as artifacts."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from dunning import daily
from dunning.reports import summary_markdown, summary_table
from dunning.settings import Settings


@task(name="finish-run")
def finish_run(settings: Settings, as_of: date) -> dict[str, Any]:
    return daily.finish_run(daily.RunContext(settings), as_of)


@task(name="publish-summary")
def publish_summary(summary: dict[str, Any], as_of: date) -> None:
    # Counts only: artifacts never carry names, numbers or amounts of a person.
    create_table_artifact(
        key=f"daily-actions-{as_of.isoformat()}",
        table=summary_table(summary),
        description=f"Actions of the daily run for {as_of}, by kind and state",
    )
    create_markdown_artifact(
        key="daily-summary",
        markdown=summary_markdown(summary),
        description=f"Daily collection run for {as_of}",
    )
