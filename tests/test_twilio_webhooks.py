"""Status callbacks and keypad answers onto the ledger; statuses fetched late."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import uvicorn
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from dunning import daily
from dunning.db import unit_of_work
from dunning.models import Action, ActionKind, ActionState, AuditEntry, utcnow
from dunning.webhooks import create_app

# The fake and its fixtures, with pytest's assertion messages.
pytest.register_assert_rewrite("twilio_fake")
pytest_plugins = ["twilio_fake"]
from twilio_fake import AUTH_TOKEN, DAY, PUBLIC_BASE, FakeTwilio  # noqa: E402


@pytest.fixture
def sent_day(planned_day, fake_twilio: FakeTwilio) -> Any:
    """The day's calls and texts sent through the fake."""
    ctx = daily.RunContext(planned_day)
    daily.carry_out_contacts(ctx, DAY, "call")
    daily.carry_out_contacts(ctx, DAY, "sms")
    return planned_day


class Receiver:
    """The app served by uvicorn on a random 127.0.0.1 port, as in production."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.base + path, timeout=10, **kwargs)


@pytest.fixture
def receiver(sent_day) -> Iterator[Receiver]:
    # Behind a proxy: asked for http://127.0.0.1:<port>/twilio/..., while
    # Twilio signed PUBLIC_BASE/twilio/...; signatures check against the latter.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(sent_day), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield Receiver(f"http://127.0.0.1:{listener.getsockname()[1]}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def sent(settings: Any, kind: str) -> Action:
    with unit_of_work(settings.db_url) as session:
        return session.scalars(
            select(Action)
            .where(Action.kind == ActionKind(kind), Action.state == ActionState.DONE)
            .order_by(Action.id)
        ).first()


def reload(settings: Any, action: Action) -> Action:
    with unit_of_work(settings.db_url) as session:
        return session.get_one(Action, action.id)


def post(
    client: Receiver,
    path: str,
    key: str,
    params: dict[str, str],
    token: str = AUTH_TOKEN,
) -> Any:
    query = f"?key={key.replace(':', '%3A')}"
    signature = RequestValidator(token).compute_signature(
        f"{PUBLIC_BASE}{path}{query}", params
    )
    return client.post(
        f"{path}{query}", data=params, headers={"X-Twilio-Signature": signature}
    )


def call_status(action: Action, status: str) -> dict[str, str]:
    return {"CallSid": action.channel_ref, "CallStatus": status, "To": "+1"}


def text_status(action: Action, status: str) -> dict[str, str]:
    return {"MessageSid": action.channel_ref, "MessageStatus": status}


def snapshot(settings: Any) -> list[tuple]:
    with unit_of_work(settings.db_url) as session:
        actions = session.execute(select(Action.__table__).order_by(Action.id))
        audit = session.execute(select(AuditEntry.__table__))
        return [tuple(row) for row in actions] + [tuple(row) for row in audit]


def key(action: Action) -> str:
    return daily.message_key(action)


class TestSignatures:
    def test_a_forged_signature_is_refused_and_nothing_recorded(
        self, receiver, sent_day
    ) -> None:
        call = sent(sent_day, "call")
        before = snapshot(sent_day)

        forged = post(
            receiver,
            "/twilio/status",
            key(call),
            call_status(call, "completed"),
            token="not-the-token",
        )
        unsigned = receiver.post(
            f"/twilio/status?key={key(call)}", data=call_status(call, "completed")
        )

        assert forged.status_code == 403 and unsigned.status_code == 403
        assert snapshot(sent_day) == before

    def test_a_signed_status_is_recorded_on_the_action(
        self, receiver, sent_day
    ) -> None:
        call = sent(sent_day, "call")

        answer = post(
            receiver, "/twilio/status", key(call), call_status(call, "no-answer")
        )

        assert answer.status_code == 200 and answer.text == "recorded"
        after = reload(sent_day, call)
        assert after.channel_status == "no-answer" and after.outcome == "no-answer"
        assert after.status_at is not None

    def test_a_signature_over_other_values_is_refused(self, receiver, sent_day) -> None:
        call = sent(sent_day, "call")
        signature = RequestValidator(AUTH_TOKEN).compute_signature(
            f"{PUBLIC_BASE}/twilio/status?key={key(call)}",
            call_status(call, "ringing"),
        )
        tampered = receiver.post(
            f"/twilio/status?key={key(call)}",
            data=call_status(call, "completed"),
            headers={"X-Twilio-Signature": signature},
        )
        assert tampered.status_code == 403
        assert reload(sent_day, call).channel_status == ""


class TestOrder:
    def test_a_late_ringing_never_undoes_a_completed_call(
        self, receiver, sent_day
    ) -> None:
        call = sent(sent_day, "call")
        for status in ("initiated", "completed", "ringing", "in-progress"):
            post(receiver, "/twilio/status", key(call), call_status(call, status))
        assert reload(sent_day, call).channel_status == "completed"

    def test_sent_never_overwrites_delivered_or_failed(
        self, receiver, sent_day
    ) -> None:
        text = sent(sent_day, "sms")
        answers = [
            post(receiver, "/twilio/status", key(text), text_status(text, status)).text
            for status in ("delivered", "sent", "queued", "failed")
        ]
        assert answers == ["recorded", "ignored", "ignored", "ignored"]
        assert reload(sent_day, text).channel_status == "delivered"

    def test_a_status_for_another_sid_is_ignored(self, receiver, sent_day) -> None:
        call = sent(sent_day, "call")
        other = {"CallSid": "CA" + "0" * 32, "CallStatus": "busy"}
        assert post(receiver, "/twilio/status", key(call), other).text == "unknown"
        assert reload(sent_day, call).channel_status == ""


class TestKeypad:
    def test_pressing_1_confirms_a_promise_and_the_call_ends_politely(
        self, receiver, sent_day
    ) -> None:
        call = sent(sent_day, "call")
        params = {"CallSid": call.channel_ref, "Digits": "1"}

        answer = post(receiver, "/twilio/gather", key(call), params)

        assert answer.status_code == 200
        assert "<Hangup />" in answer.text and 'voice="Polly.Zhiyu"' in answer.text
        assert reload(sent_day, call).response == "promise-confirmed"
        with unit_of_work(sent_day.db_url) as session:
            events = list(session.scalars(select(AuditEntry.event)))
        assert "promise-confirmed" in events

    def test_pressing_2_asks_for_a_callback(self, receiver, sent_day) -> None:
        call = sent(sent_day, "call")
        params = {"CallSid": call.channel_ref, "Digits": "2"}
        post(receiver, "/twilio/gather", key(call), params)
        assert reload(sent_day, call).response == "callback-requested"

    def test_another_key_records_nothing(self, receiver, sent_day) -> None:
        call = sent(sent_day, "call")
        params = {"CallSid": call.channel_ref, "Digits": "9"}
        post(receiver, "/twilio/gather", key(call), params)
        assert reload(sent_day, call).response == ""


def test_a_callback_settles_a_claim_whose_answer_was_lost(receiver, sent_day) -> None:
    call = sent(sent_day, "call")
    with unit_of_work(sent_day.db_url) as session:
        unsure = session.get_one(Action, call.id)
        sid, unsure.state, unsure.channel_ref = unsure.channel_ref, "claimed", ""

    post(
        receiver,
        "/twilio/status",
        key(call),
        {"CallSid": sid, "CallStatus": "ringing"},
    )

    settled = reload(sent_day, call)
    assert settled.state == ActionState.DONE and settled.channel_ref == sid
    assert settled.channel_status == "ringing"


class TestReconciliation:
    def test_statuses_past_the_deadline_are_fetched_from_twilio(
        self, sent_day, fake_twilio: FakeTwilio
    ) -> None:
        fake_twilio.finish_all()
        ctx = daily.RunContext(sent_day)
        later = utcnow() + timedelta(minutes=sent_day.status_deadline_minutes + 1)

        counts = daily.reconcile_statuses(ctx, now=later)

        with unit_of_work(sent_day.db_url) as session:
            rows = list(
                session.scalars(select(Action).where(Action.state == ActionState.DONE))
            )
        assert counts["fetched"] == counts["updated"] == len(rows) > 0
        calls = {a.channel_status for a in rows if a.kind == ActionKind.CALL}
        texts = {a.channel_status for a in rows if a.kind == ActionKind.SMS}
        assert calls == {"completed"} and texts == {"delivered"}
        # Final statuses are not asked for again.
        assert daily.reconcile_statuses(ctx, now=later) == {}

    def test_nothing_is_fetched_before_the_deadline(
        self, sent_day, fake_twilio: FakeTwilio
    ) -> None:
        gets = sum(1 for method, _ in fake_twilio.requests if method == "GET")
        assert daily.reconcile_statuses(daily.RunContext(sent_day)) == {}
        assert gets == sum(1 for m, _ in fake_twilio.requests if m == "GET")

    def test_the_outbox_has_no_statuses_to_fetch(self, settings) -> None:
        assert daily.reconcile_statuses(daily.RunContext(settings)) == {}


def test_a_huge_or_undecodable_body_is_refused_before_any_lookup(receiver) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    huge = receiver.post(
        "/twilio/status?key=call%3A1", data=b"A=" + b"x" * (200 * 1024), headers=form
    )
    garbled = receiver.post(
        "/twilio/status?key=call%3A1", data=b"\xff\xfe\x00bad", headers=form
    )

    assert huge.status_code == 413
    assert garbled.status_code == 403


def test_a_signed_status_for_an_action_that_never_went_out_is_ignored(
    sent_day, receiver
) -> None:
    with unit_of_work(sent_day.db_url) as session:
        never_sent = session.scalars(
            select(Action).where(
                Action.kind == ActionKind.CALL, Action.state == ActionState.SKIPPED
            )
        ).first()
    assert never_sent is not None
    forged_sid = "CA" + "1" * 32

    answer = post(
        receiver,
        "/twilio/status",
        f"call:{never_sent.id}",
        {"CallSid": forged_sid, "CallStatus": "completed"},
    )
    empty_sid = post(
        receiver, "/twilio/status", f"call:{never_sent.id}", {"CallStatus": "completed"}
    )

    assert answer.text == "unknown" and empty_sid.text == "unknown"
    after = reload(sent_day, never_sent)
    assert (after.state, after.channel_status) == (ActionState.SKIPPED, "")
