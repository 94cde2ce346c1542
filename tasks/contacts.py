"""Carrying out the day's actions: calls, texts, visits, notices, guarantors."""

from __future__ import annotations

from datetime import date

from prefect import task

from dunning import daily
from dunning.settings import Settings

# Retrying is safe: an action is claimed in the ledger before it is sent, and
# a claim left unsure is reconciled with the channel before anything is resent.
RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10]}


@task(name="place-calls", **RETRIES)
def place_calls(settings: Settings, as_of: date) -> dict[str, int]:
    return daily.carry_out_contacts(daily.RunContext(settings), as_of, "call")


@task(name="send-texts", **RETRIES)
def send_texts(settings: Settings, as_of: date) -> dict[str, int]:
    return daily.carry_out_contacts(daily.RunContext(settings), as_of, "sms")


@task(name="issue-visit-sheets", **RETRIES)
def issue_visit_sheets(settings: Settings, as_of: date) -> dict[str, int]:
    return daily.issue_visit_sheets(daily.RunContext(settings), as_of)


@task(name="issue-notices", **RETRIES)
def issue_notices(settings: Settings, as_of: date) -> dict[str, int]:
    return daily.issue_notices(daily.RunContext(settings), as_of, "notice")


@task(name="contact-guarantors", **RETRIES)
def contact_guarantors(settings: Settings, as_of: date) -> dict[str, int]:
    return daily.issue_notices(daily.RunContext(settings), as_of, "guarantor_contact")
