"""Re-dials the same day after a no-answer or busy, each an action of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dunning import daily
from dunning.db import unit_of_work
from dunning.models import Action, ActionKind, ActionState
from dunning.redial import redial_times

# The fake and its fixtures, with pytest's assertion messages.
pytest.register_assert_rewrite("twilio_fake")
pytest_plugins = ["twilio_fake"]
from twilio_fake import DAY, FakeTwilio, planned  # noqa: E402


def calls_of_the_day(settings: Any) -> list[Action]:
    with unit_of_work(settings.db_url) as session:
        return list(
            session.scalars(
                select(Action)
                .where(Action.kind == ActionKind.CALL, Action.planned_on == DAY)
                .where(Action.state != ActionState.SKIPPED)
                .order_by(Action.id)
            )
        )


def number_of(settings: Any, action: Action) -> str:
    with unit_of_work(settings.db_url) as session:
        file = daily.load_case_files(session, [action.case_id])[action.case_id]
        number = file.phone_for(action.target)
    assert number
    return number


def test_an_unanswered_call_is_redialled_twice_then_left(
    prefect_harness, planned_day, fake_twilio: FakeTwilio
) -> None:
    from flows.redial import redial_calls

    first = planned(planned_day, "call")[0]
    unanswered = number_of(planned_day, first)
    fake_twilio.ends_as(unanswered, "no-answer")
    originals = len(planned(planned_day, "call"))
    daily.carry_out_contacts(daily.RunContext(planned_day), DAY, "call")

    placed = []
    for _ in range(3):  # the two runs the daily run schedules, and one more
        fake_twilio.finish_all()
        placed.append(redial_calls(as_of=DAY)["placed"])

    assert placed == [{"done": 1}, {"done": 1}, {}]
    to_that_number = [c for c in fake_twilio.calls if c.to == unanswered]
    assert len(to_that_number) == 3
    assert len(fake_twilio.calls) == originals + 2
    chain = [a for a in calls_of_the_day(planned_day) if a.case_id == first.case_id]
    assert [a.target for a in chain] == [
        "borrower",
        "borrower~redial-1",
        "borrower~redial-2",
    ]
    assert [a.rule for a in chain][1:] == ["redial", "redial"]
    assert {a.channel_status for a in chain} == {"no-answer"}
    # Answered calls are not tried again.
    others = [a for a in calls_of_the_day(planned_day) if a.case_id != first.case_id]
    assert {a.target for a in others} == {"borrower"}
    assert {a.channel_status for a in others} == {"completed"}


def test_a_busy_line_is_redialled_too(planned_day, fake_twilio: FakeTwilio) -> None:
    from dunning.redial import plan_redials

    first = planned(planned_day, "call")[0]
    fake_twilio.ends_as(number_of(planned_day, first), "busy")
    ctx = daily.RunContext(planned_day)
    daily.carry_out_contacts(ctx, DAY, "call")
    fake_twilio.finish_all()
    daily.reconcile_statuses(ctx, deadline_minutes=0)

    with unit_of_work(planned_day.db_url) as session:
        assert plan_redials(session, DAY, tries=2) == 1
        assert plan_redials(session, DAY, tries=2) == 0  # planning twice: once


SHANGHAI = "Asia/Shanghai"


def at_shanghai(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 5, hour - 8, minute, tzinfo=UTC)


class TestWhen:
    def test_a_morning_run_redials_two_and_four_hours_later(self) -> None:
        times = redial_times(at_shanghai(8, 30), 2, timedelta(hours=2), SHANGHAI, 21)
        assert times == [at_shanghai(10, 30), at_shanghai(12, 30)]

    def test_no_redial_falls_at_or_after_the_last_hour(self) -> None:
        times = redial_times(at_shanghai(18), 2, timedelta(hours=2), SHANGHAI, 21)
        assert times == [at_shanghai(20)]
        assert redial_times(at_shanghai(19), 2, timedelta(hours=2), SHANGHAI, 21) == []


def in_a_flow(task: Any, settings: Any) -> Any:
    from prefect import flow

    @flow(name="scheduling-redials")
    def scheduling() -> Any:
        return task(settings, DAY)

    return scheduling()


def test_the_daily_run_schedules_the_redial_runs(
    prefect_harness, twilio_env, monkeypatch
) -> None:
    import tasks.contacts as contacts

    asked: list[dict[str, Any]] = []
    monkeypatch.setattr(
        contacts, "run_deployment", lambda name, **options: asked.append(options)
    )
    soon = twilio_env.model_copy(
        update={"redial_gap_minutes": 1, "redial_last_hour": 24}
    )

    result = in_a_flow(contacts.schedule_redials, soon)

    assert result == {"scheduled": 2}
    assert [a["idempotency_key"] for a in asked] == [
        f"redial-{DAY}-1",
        f"redial-{DAY}-2",
    ]
    assert all(a["parameters"] == {"as_of": DAY.isoformat()} for a in asked)
    assert asked[1]["scheduled_time"] - asked[0]["scheduled_time"] == timedelta(
        minutes=1
    )


def test_without_the_deployment_nothing_is_scheduled(
    prefect_harness, twilio_env
) -> None:
    from tasks.contacts import schedule_redials

    soon = twilio_env.model_copy(
        update={"redial_gap_minutes": 1, "redial_last_hour": 24}
    )
    assert in_a_flow(schedule_redials, soon) == {"scheduled": 0}
