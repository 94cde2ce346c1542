"""Carrying out the day's actions: calls, texts, visits, notices, guarantors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

from prefect import get_client, get_run_logger, task
from prefect.concurrency.sync import concurrency, rate_limit
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.runtime import task_run as prefect_task_run
from prefect.states import State
from prefect.tasks import exponential_backoff

from dunning import daily, redial
from dunning.db import unit_of_work
from dunning.errors import TransientChannelError, UnsureSendError
from dunning.settings import Settings

# Retrying is safe: an action is claimed in the ledger before it is sent, and
# a claim left unsure is reconciled with the channel before anything is resent.
RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10]}

# Calls and texts -------------------------------------------------------------
# A transient channel error puts its action back to planned and the batch goes
# on; at the end the task raises, and only then (or on an unsure send) does
# Prefect retry it, with backoff and jitter, to pick those actions up again.
# Any other error is not retried here. The last try returns what is left
# rather than fail the day's run: those actions stay planned and expire.
CONTACT_RETRIES = 3
CONTACT_RETRY_POLICY = {
    "retries": CONTACT_RETRIES,
    "retry_delay_seconds": exponential_backoff(backoff_factor=4),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": lambda task, run, state: _worth_retrying(state),
}


class ContactsLeftPlanned(TransientChannelError):
    """Some contacts met a transient channel error and wait for the retry."""


def _worth_retrying(state: State) -> bool:
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None:
        error = state.result(raise_on_failure=False)
    return isinstance(error, TransientChannelError | UnsureSendError)


def _carry_out(settings: Settings, as_of: date, kind: str) -> dict[str, int]:
    logger = get_run_logger()
    ctx = daily.RunContext(settings, throttle=throttle_for(settings))
    last_try = prefect_task_run.get_run_count() > CONTACT_RETRIES
    try:
        with one_sender(settings, kind):
            counts = daily.carry_out_contacts(ctx, as_of, kind)
    except (UnsureSendError, TransientChannelError) as exc:
        if not last_try:
            raise
        # Claims left unsure are reconciled by the next run before it sends.
        logger.error("%s: %s; giving up for this run", kind, exc)
        return {"given_up": 1}
    left = counts.get("retry_later", 0) + counts.get("still_unsure", 0)
    if left:
        logger.warning(
            "%s: %d transient channel errors this try: %s", kind, left, counts
        )
        if not last_try:
            raise ContactsLeftPlanned(
                f"{left} {kind} actions met a transient channel error and went back "
                "to planned; the task retries them"
            )
    return counts


def throttle_for(settings: Settings) -> Callable[[str], None] | None:
    """Per-channel rate through Prefect's global concurrency limits, or None."""
    rates = {"call": settings.call_rate_per_second, "sms": settings.sms_rate_per_second}
    if settings.channel_name == "outbox":
        return None  # nothing leaves the building: nothing to pace
    names = {kind: f"dunning-{kind}-rate" for kind, rate in rates.items() if rate > 0}
    if not names:
        return None
    with get_client(sync_client=True) as client:
        for kind, name in names.items():
            client.upsert_global_concurrency_limit_by_name(
                name, limit=1, slot_decay_per_second=rates[kind]
            )

    def throttle(kind: str) -> None:
        if kind in names:
            rate_limit(names[kind], strict=True)

    return throttle


@contextmanager
def one_sender(settings: Settings, kind: str) -> Iterator[None]:
    """One run at a time sends calls (or texts), whichever flow it belongs to.

    The daily run and a re-dial run may overlap; two senders would each take
    the other's claims in flight for unsure ones.
    """
    if settings.channel_name == "outbox":
        yield  # documents are keyed: a second writer changes nothing
        return
    name = f"dunning-{kind}-sending"
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit=1)
    with concurrency(name, occupy=1, strict=True):
        yield


@task(name="place-calls", **CONTACT_RETRY_POLICY)
def place_calls(settings: Settings, as_of: date) -> dict[str, int]:
    return _carry_out(settings, as_of, "call")


@task(name="send-texts", **CONTACT_RETRY_POLICY)
def send_texts(settings: Settings, as_of: date) -> dict[str, int]:
    return _carry_out(settings, as_of, "sms")


@task(name="reconcile-channel-statuses", **RETRIES)
def reconcile_statuses(settings: Settings) -> dict[str, int]:
    return daily.reconcile_statuses(daily.RunContext(settings))


# Re-dials --------------------------------------------------------------------


@task(name="schedule-redials", **RETRIES)
def schedule_redials(settings: Settings, as_of: date) -> dict[str, int]:
    """Flow runs that re-dial the day's unanswered calls, every gap until late."""
    logger = get_run_logger()
    if settings.channel_name == "outbox" or settings.redial_tries <= 0:
        return {"scheduled": 0}  # the outbox learns no call's outcome
    times = redial.redial_times(
        datetime.now(UTC),
        settings.redial_tries,
        timedelta(minutes=settings.redial_gap_minutes),
        settings.timezone,
        settings.redial_last_hour,
    )
    for number, at in enumerate(times, start=1):
        try:
            run_deployment(
                settings.redial_deployment,
                parameters={"as_of": as_of.isoformat()},
                scheduled_time=at,
                timeout=0,
                idempotency_key=f"redial-{as_of.isoformat()}-{number}",
                as_subflow=False,
            )
        except ObjectNotFound:
            logger.warning(
                "no deployment %r: re-dials of %s are not scheduled; deploy "
                "prefect.yaml to have them",
                settings.redial_deployment,
                as_of,
            )
            return {"scheduled": 0}
    return {"scheduled": len(times)}


@task(name="refresh-call-statuses", **RETRIES)
def refresh_call_statuses(settings: Settings) -> dict[str, int]:
    """Every call still without a final status, asked for now: no deadline."""
    return daily.reconcile_statuses(daily.RunContext(settings), deadline_minutes=0)


@task(name="plan-redials", **RETRIES)
def plan_redials(settings: Settings, as_of: date) -> dict[str, int]:
    with unit_of_work(settings.db_url) as session:
        added = redial.plan_redials(session, as_of, settings.redial_tries)
    return {"redials": added}


# -----------------------------------------------------------------------------


@task(name="issue-visit-sheets", **RETRIES)
def issue_visit_sheets(settings: Settings, as_of: date) -> dict[str, int]:
    return daily.issue_visit_sheets(daily.RunContext(settings), as_of)


@task(name="issue-notices", **RETRIES)
def issue_notices(settings: Settings, as_of: date) -> dict[str, int]:
    return daily.issue_notices(daily.RunContext(settings), as_of, "notice")


@task(name="contact-guarantors", **RETRIES)
def contact_guarantors(settings: Settings, as_of: date) -> dict[str, int]:
    return daily.issue_notices(daily.RunContext(settings), as_of, "guarantor_contact")
