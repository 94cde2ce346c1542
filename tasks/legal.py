"""Handing cases to legal and blacklisting after resolution."""

from __future__ import annotations

from datetime import date

from prefect import task

from dunning import daily
from dunning.settings import Settings
from tasks.operators import publish_referral_files

RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10]}


@task(name="refer-to-legal", **RETRIES)
def refer_to_legal(settings: Settings, as_of: date) -> dict[str, int]:
    counts = daily.refer_to_legal(daily.RunContext(settings), as_of)
    publish_referral_files(settings, as_of)
    return counts


@task(name="blacklist-resolved", **RETRIES)
def blacklist_resolved(settings: Settings, as_of: date) -> dict[str, int]:
    return daily.blacklist_resolved(daily.RunContext(settings), as_of)
