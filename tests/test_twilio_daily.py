"""The day's calls and texts through the loopback Twilio, under Prefect."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import date
from typing import Any

import pytest
from prefect import flow
from sqlalchemy import select

from dunning import daily
from dunning.db import unit_of_work
from dunning.models import Action, ActionKind, ActionState, Phone
from dunning.playbook import PROMISE_PENDING, REFERRED
from dunning.render import Renderer
from dunning.settings import PROJECT_ROOT, Settings

# The fake and its fixtures, with pytest's assertion messages.
pytest.register_assert_rewrite("twilio_fake")
pytest_plugins = ["twilio_fake"]
from twilio_fake import DAY, DROP, FakeTwilio, planned  # noqa: E402


def ledger(settings: Settings, kind: str) -> list[Action]:
    """The day's actions of ``kind`` that planning did not already skip."""
    with unit_of_work(settings.db_url) as session:
        return list(
            session.scalars(
                select(Action)
                .where(
                    Action.kind == ActionKind(kind),
                    Action.planned_on == DAY,
                    (Action.state != ActionState.SKIPPED)
                    | (Action.skip_reason.not_in(PLANNING_SKIPS)),
                )
                .order_by(Action.id)
            )
        )


PLANNING_SKIPS = [REFERRED, PROMISE_PENDING]


def states(actions: list[Action]) -> Counter[str]:
    return Counter(a.state.value for a in actions)


def quick(task: Any) -> Any:
    """The task as the daily run has it, without waiting between tries."""
    return task.with_options(retry_delay_seconds=0, retry_jitter_factor=None)


@flow
def contacts_of_the_day(settings: Settings, as_of: date) -> dict[str, Any]:
    from tasks.contacts import place_calls, send_texts

    return {
        "call": quick(place_calls)(settings, as_of),
        "sms": quick(send_texts)(settings, as_of),
    }


def test_the_daily_run_sends_exactly_the_planned_calls_and_texts(
    prefect_harness, planned_day, fake_twilio: FakeTwilio, monkeypatch
) -> None:
    import flows.daily_run as daily_run
    from flows.daily_run import daily_collection_run

    monkeypatch.setattr(daily_run, "place_calls", quick(daily_run.place_calls))
    monkeypatch.setattr(daily_run, "send_texts", quick(daily_run.send_texts))
    calls, texts = len(planned(planned_day, "call")), len(planned(planned_day, "sms"))
    assert calls and texts

    daily_collection_run(as_of=DAY)
    daily_collection_run(as_of=DAY)  # the same day again sends nothing more

    done_calls = [a for a in ledger(planned_day, "call") if a.state == "done"]
    done_texts = [a for a in ledger(planned_day, "sms") if a.state == "done"]
    assert len(fake_twilio.calls) == len(done_calls) == calls
    assert len(fake_twilio.messages) == len(done_texts) == texts
    assert {a.channel_ref for a in done_calls} == {c.sid for c in fake_twilio.calls}
    assert all(a.channel == "twilio" and a.attempts == 1 for a in done_texts)
    assert all(a.segments and a.segments <= 3 for a in done_texts)


def test_transient_failures_are_retried_and_counted(
    prefect_harness, planned_day, fake_twilio: FakeTwilio
) -> None:
    texts = len(planned(planned_day, "sms"))
    fake_twilio.fail_next("messages", "429", "500")

    result = contacts_of_the_day(planned_day, DAY)

    actions = ledger(planned_day, "sms")
    assert states(actions) == {"done": texts}
    assert len(fake_twilio.messages) == texts
    # Two actions met an error, went back to planned, and were claimed again.
    assert sorted(a.attempts for a in actions)[-2:] == [2, 2]
    assert sum(a.attempts for a in actions) == texts + 2
    assert fake_twilio.creates("Messages") == texts + 2
    # The final try found only the two left over.
    assert result["sms"] == {"done": 2}


def test_an_outage_outlasting_the_retries_leaves_the_day_planned_not_failed(
    prefect_harness, planned_day, fake_twilio: FakeTwilio
) -> None:
    texts = len(planned(planned_day, "sms"))
    fake_twilio.fail_next("messages", *["503"] * 100)

    result = contacts_of_the_day(planned_day, DAY)

    assert result["sms"] == {"retry_later": texts}
    assert states(ledger(planned_day, "sms")) == {"planned": texts}
    assert fake_twilio.messages == []
    assert fake_twilio.creates("Messages") == texts * 4  # the try and 3 retries


def test_permanent_failures_are_not_retried_and_mark_the_number(
    prefect_harness, planned_day, fake_twilio: FakeTwilio
) -> None:
    first = planned(planned_day, "sms")[0]
    with unit_of_work(planned_day.db_url) as session:
        number = daily.load_case_files(session, [first.case_id])[
            first.case_id
        ].phone_for("borrower", texting=True)
    assert number
    fake_twilio.refuse("messages", number, "21610")
    texts = len(planned(planned_day, "sms"))

    result = contacts_of_the_day(planned_day, DAY)

    assert result["sms"]["failed"] >= 1
    assert fake_twilio.creates("Messages") == texts  # each tried once, no retry
    with unit_of_work(planned_day.db_url) as session:
        statuses = set(
            session.scalars(select(Phone.status).where(Phone.number == number))
        )
        failed = session.get_one(Action, first.id)
    assert statuses == {"opted_out"}
    assert failed.state == ActionState.FAILED and "21610" in failed.error


def test_a_text_whose_answer_was_lost_goes_out_once_after_the_retry(
    prefect_harness, planned_day, fake_twilio: FakeTwilio
) -> None:
    texts = len(planned(planned_day, "sms"))
    fake_twilio.fail_next("messages", DROP)

    contacts_of_the_day(planned_day, DAY)

    actions = ledger(planned_day, "sms")
    assert states(actions) == {"done": texts}
    assert len(fake_twilio.messages) == texts
    sent = Counter((m.to, m.form["Body"]) for m in fake_twilio.messages)
    assert max(sent.values()) == 1
    # The unsure one was found on Twilio, not sent again.
    first = actions[0]
    assert first.channel_ref == fake_twilio.messages[0].sid
    assert first.attempts == 1


def test_the_third_identical_text_to_a_number_in_a_day_is_skipped(
    planned_day, fake_twilio: FakeTwilio
) -> None:
    first = planned(planned_day, "sms")[0]
    with unit_of_work(planned_day.db_url) as session:
        for target in ("borrower-again", "borrower-third"):
            session.add(
                Action(
                    case_id=first.case_id,
                    loan_id=first.loan_id,
                    kind=ActionKind.SMS,
                    target=target,
                    planned_on=DAY,
                    rule=first.rule,
                    template=first.template,
                    state=ActionState.PLANNED,
                )
            )

    daily.carry_out_contacts(daily.RunContext(planned_day), DAY, "sms")

    same_case = [a for a in ledger(planned_day, "sms") if a.case_id == first.case_id]
    assert [a.state.value for a in same_case] == ["done", "done", "skipped"]
    assert same_case[-1].skip_reason == "operator-repeat-limit"
    bodies = Counter(m.form["Body"] for m in fake_twilio.messages)
    assert max(bodies.values()) == 2


def test_a_text_longer_than_the_maximum_segments_is_skipped(
    planned_day, fake_twilio: FakeTwilio
) -> None:
    strict = planned_day.model_copy(update={"sms_max_segments": 1})

    counts = daily.carry_out_contacts(daily.RunContext(strict), DAY, "sms")

    actions = ledger(planned_day, "sms")
    assert counts == {"skipped": len(actions)}
    assert {a.skip_reason for a in actions} == {"too-many-segments"}
    assert fake_twilio.messages == []


# The longest values a text is expected to carry, a little past the likely.
LONGEST = {
    "lender": "义乌市惠民小额贷款股份有限公司",
    "borrower_name": "欧阳娜娜娜娜娜（生成）",
    "loan_tail": "0123",
    "arrears": "¥99,999,999.99",
    "dpd": 9999,
    "callback_phone": "+86 400-123-4567 转 8888",
}


@pytest.mark.parametrize(
    "name",
    sorted(
        p.relative_to(PROJECT_ROOT / "templates").as_posix()
        for p in (PROJECT_ROOT / "templates" / "sms").glob("*.txt")
    ),
)
def test_every_text_template_fits_the_configured_segments(name: str) -> None:
    from dunning.formatting import sms_segments

    body = Renderer(PROJECT_ROOT / "templates").render(name, LONGEST)
    assert sms_segments(body) <= Settings().sms_max_segments


def test_texts_go_out_no_faster_than_the_configured_rate(
    prefect_harness, planned_day, fake_twilio: FakeTwilio
) -> None:
    from prefect import get_client

    from tasks.contacts import throttle_for

    rate = 4.0
    paced = planned_day.model_copy(update={"sms_rate_per_second": rate})
    texts = len(planned(planned_day, "sms"))
    assert texts >= 3

    started = time.monotonic()
    counts = daily.carry_out_contacts(
        daily.RunContext(paced, throttle=throttle_for(paced)), DAY, "sms"
    )
    elapsed = time.monotonic() - started

    assert counts == {"done": texts}
    moments = [m.created.timestamp() for m in fake_twilio.messages]
    gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert min(gaps) >= 0.8 / rate, gaps
    assert elapsed >= (texts - 1) * 0.8 / rate
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name("dunning-sms-rate")
    assert limit.limit == 1 and limit.slot_decay_per_second == rate
