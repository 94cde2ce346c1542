"""The Twilio adapter against the loopback fake: sending, errors, reconciling."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest

from dunning import daily
from dunning.channels import OutgoingCall, OutgoingText
from dunning.channels import twilio as twilio_channel
from dunning.channels.twilio import (
    TwilioChannel,
    TwilioConfig,
    UnsureSendError,
    call_twiml,
)
from dunning.db import unit_of_work
from dunning.errors import ConfigError, PermanentChannelError, TransientChannelError
from dunning.formatting import sms_segments
from dunning.models import Action

# The fake and its fixtures, with pytest's assertion messages.
pytest.register_assert_rewrite("twilio_fake")
pytest_plugins = ["twilio_fake"]
from twilio_fake import (  # noqa: E402
    AUTH_TOKEN,
    CALLER,
    DROP,
    PUBLIC_BASE,
    STALL,
    FakeTwilio,
    planned,
)


def channel_for(settings: Any) -> TwilioChannel:
    channel = daily.RunContext(settings).channel()
    assert isinstance(channel, TwilioChannel)
    return channel


def a_call(action: Action, to: str = "+12015550100") -> OutgoingCall:
    return OutgoingCall(
        key=daily.message_key(action),
        action_id=action.id,
        case_id=action.case_id,
        for_date=action.planned_on.isoformat(),
        to=to,
        script="您好，这里是示例农村商业银行。\n请尽快还款。",
    )


def a_text(action: Action, to: str = "+12015550100", body: str = "") -> OutgoingText:
    body = body or "【示例农商行】您尾号0001的贷款已逾期3天，请尽快还款。"
    return OutgoingText(
        key=daily.message_key(action),
        action_id=action.id,
        case_id=action.case_id,
        for_date=action.planned_on.isoformat(),
        to=to,
        body=body,
        segments=sms_segments(body),
    )


class TestSelection:
    def test_outbox_stays_the_default_without_credentials(self, settings) -> None:
        assert settings.channel_name == "outbox"
        assert daily.RunContext(settings).channel().name == "outbox"

    def test_credentials_in_the_environment_select_twilio(self, twilio_env) -> None:
        assert daily.RunContext(twilio_env).channel().name == "twilio"

    def test_the_token_never_shows_in_settings_or_config(self, twilio_env) -> None:
        config = TwilioConfig.from_settings(twilio_env)
        token = twilio_env.twilio_auth_token.get_secret_value()
        assert token not in repr(twilio_env)
        assert token not in repr(config)

    def test_a_missing_caller_number_is_a_config_error(
        self, twilio_env, monkeypatch
    ) -> None:
        monkeypatch.setenv("DUNNING_TWILIO_FROM", "")
        from dunning.settings import Settings

        with pytest.raises(ConfigError, match="DUNNING_TWILIO_FROM"):
            daily.RunContext(Settings()).channel()


def test_the_auth_token_can_come_from_a_prefect_secret_block(
    prefect_harness, planned_day, fake_twilio: FakeTwilio, monkeypatch
) -> None:
    from prefect.blocks.system import Secret

    from dunning.settings import Settings

    Secret(value=AUTH_TOKEN).save("dunning-twilio-token", overwrite=True)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    monkeypatch.setenv("DUNNING_TWILIO_SECRET_BLOCK", "dunning-twilio-token")
    settings = Settings()
    assert settings.twilio_auth_token is None and settings.channel_name == "twilio"

    channel_for(settings).place_call(a_call(planned(planned_day, "call")[0]))

    assert len(fake_twilio.calls) == 1


class TestCalls:
    def test_a_call_reads_the_script_in_mandarin_and_takes_one_key(
        self, planned_day, fake_twilio: FakeTwilio
    ) -> None:
        action = planned(planned_day, "call")[0]
        receipt = channel_for(planned_day).place_call(a_call(action))

        assert receipt.ref.startswith("CA") and len(receipt.ref) == 34
        assert receipt.status == "queued"
        (call,) = fake_twilio.calls
        twiml = call.form["Twiml"]
        assert 'voice="Polly.Zhiyu"' in twiml and 'language="cmn-CN"' in twiml
        assert '<Gather action="' in twiml and 'numDigits="1"' in twiml
        assert f"{PUBLIC_BASE}/twilio/gather?key=call%3A{action.id}" in twiml
        assert "请尽快还款。" in twiml
        assert call.form["StatusCallback"] == (
            f"{PUBLIC_BASE}/twilio/status?key=call%3A{action.id}"
        )
        assert call.form["From"] == CALLER

    def test_without_a_public_url_the_call_only_speaks(self, twilio_env) -> None:
        config = TwilioConfig.from_settings(
            twilio_env.model_copy(update={"public_base_url": ""})
        )
        twiml = call_twiml(config, "第一句。\n第二句。", "call:1")
        assert "<Gather" not in twiml
        assert twiml.count("<Say") == 2

    def test_the_fake_walks_a_call_to_its_end(
        self, planned_day, fake_twilio: FakeTwilio
    ) -> None:
        channel = channel_for(planned_day)
        receipt = channel.place_call(a_call(planned(planned_day, "call")[0]))
        seen = [channel.fetch_status(receipt.ref).status for _ in range(4)]
        assert seen == ["ringing", "in-progress", "completed", "completed"]


class TestErrors:
    @pytest.mark.parametrize("failure", ["429", "500", "503"])
    def test_rate_limits_and_outages_are_transient(
        self, planned_day, fake_twilio: FakeTwilio, failure: str
    ) -> None:
        fake_twilio.fail_next("messages", failure)
        with pytest.raises(TransientChannelError, match="try again later"):
            channel_for(planned_day).send_text(a_text(planned(planned_day, "sms")[0]))
        assert fake_twilio.messages == []

    @pytest.mark.parametrize(
        ("failure", "contact_status"),
        [
            ("21211", "invalid"),
            ("21610", "opted_out"),
            ("21614", "not_sms_capable"),
            ("21608", "ok"),
        ],
    )
    def test_refusals_are_permanent_and_say_what_to_mark(
        self, planned_day, fake_twilio: FakeTwilio, failure: str, contact_status: str
    ) -> None:
        fake_twilio.fail_next("messages", failure)
        with pytest.raises(PermanentChannelError) as raised:
            channel_for(planned_day).send_text(a_text(planned(planned_day, "sms")[0]))
        assert raised.value.contact_status == contact_status
        # The number shows masked, never whole, and no cause carries it.
        assert "+12015550100" not in str(raised.value)
        assert raised.value.__cause__ is None and raised.value.__suppress_context__
        assert "+1******0100" in str(raised.value)

    def test_refused_credentials_are_a_config_error(
        self, planned_day, fake_twilio: FakeTwilio, monkeypatch
    ) -> None:
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", "wrong")
        from dunning.settings import Settings

        with pytest.raises(ConfigError, match="auth token was refused"):
            channel_for(Settings()).place_call(a_call(planned(planned_day, "call")[0]))
        assert fake_twilio.calls == []

    def test_a_server_that_cannot_be_reached_is_transient(
        self, planned_day, monkeypatch
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        monkeypatch.setenv("DUNNING_TWILIO_API_BASE", f"http://127.0.0.1:{port}")
        from dunning.settings import Settings

        with pytest.raises(TransientChannelError, match="could not reach Twilio"):
            channel_for(Settings()).place_call(a_call(planned(planned_day, "call")[0]))

    @pytest.mark.parametrize("failure", [DROP, STALL])
    def test_an_answer_lost_after_the_create_is_unsure_not_transient(
        self, planned_day, fake_twilio: FakeTwilio, failure: str
    ) -> None:
        fake_twilio.fail_next("messages", failure)
        with pytest.raises(UnsureSendError, match="looked up, not resent"):
            channel_for(planned_day).send_text(a_text(planned(planned_day, "sms")[0]))
        assert len(fake_twilio.messages) == 1


class TestReconciling:
    def test_nothing_recorded_means_nothing_was_sent_and_twilio_is_not_asked(
        self, planned_day, fake_twilio: FakeTwilio
    ) -> None:
        action = planned(planned_day, "sms")[0]
        assert channel_for(planned_day).find_sent(daily.message_key(action)) is None
        assert fake_twilio.requests == []

    def test_an_unsure_text_is_found_by_listing_the_number(
        self, planned_day, fake_twilio: FakeTwilio
    ) -> None:
        channel = channel_for(planned_day)
        action = planned(planned_day, "sms")[0]
        fake_twilio.fail_next("messages", DROP)
        with pytest.raises(UnsureSendError):
            channel.send_text(a_text(action))

        found = channel.find_sent(daily.message_key(action))

        assert found is not None
        assert found.ref == fake_twilio.messages[0].sid

    def test_a_text_with_another_body_or_owner_is_not_taken_for_ours(
        self, planned_day, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        channel = channel_for(planned_day)
        first, second, third = planned(planned_day, "sms")[:3]
        # Another action's text to the same number, already in the ledger.
        receipt = channel.send_text(a_text(first))
        with unit_of_work(planned_day.db_url) as session:
            owner = session.get_one(Action, first.id)
            owner.channel, owner.channel_ref = "twilio", receipt.ref
        # An unrelated text to the same number with a different body.
        channel.send_text(a_text(second, body="另一条短信"))
        # Ours: recorded, but the create never reached Twilio.
        fake_twilio.fail_next("messages", "500")
        with pytest.raises(TransientChannelError):
            channel.send_text(a_text(third))

        # Moments after the attempt an empty list proves nothing (lists lag);
        # once they have settled, it proves the text never went out.
        with pytest.raises(UnsureSendError, match="not listed yet"):
            channel.find_sent(daily.message_key(third))
        monkeypatch.setattr(twilio_channel, "LIST_SETTLE", timedelta(0))
        assert channel.find_sent(daily.message_key(third)) is None

    def test_listing_reads_every_page(
        self, planned_day, fake_twilio: FakeTwilio
    ) -> None:
        channel = channel_for(planned_day)
        first, *others = planned(planned_day, "call")[:4]
        fake_twilio.fail_next("calls", DROP)
        with pytest.raises(UnsureSendError):
            channel.place_call(a_call(first))
        owned = []
        for action in others:
            owned.append(channel.place_call(a_call(action)).ref)
            with unit_of_work(planned_day.db_url) as session:
                row = session.get_one(Action, action.id)
                row.channel, row.channel_ref = "twilio", owned[-1]
        # 50 a page in the adapter; the fake's list is newest first.
        found = channel.find_sent(daily.message_key(first))
        assert found is not None and found.ref == fake_twilio.calls[0].sid


def test_a_queued_call_has_no_start_time_so_listing_cannot_filter_by_it(
    planned_day, fake_twilio: FakeTwilio
) -> None:
    # Why find_sent lists by number and reads date_created itself.
    from datetime import UTC, datetime, timedelta

    channel = channel_for(planned_day)
    receipt = channel.place_call(a_call(planned(planned_day, "call")[0]))
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)

    by_start = channel.client.calls.list(start_time_after=an_hour_ago)
    by_number = channel.client.calls.list(to="+12015550100")

    assert by_start == []
    assert [c.sid for c in by_number] == [receipt.ref]
    assert by_number[0].start_time is None and by_number[0].date_created
