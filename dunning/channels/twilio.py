"""Calls and texts through Twilio, and what Twilio says became of them.

Every call and text is recorded as a document before it is sent, so an unsure
send (the create went out, the answer never came back) is reconciled by
listing the account's calls or messages to that number since that moment,
never by sending again. Twilio's errors are mapped here into transient,
permanent and unsure ones; nothing Twilio said about a number is logged whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse
from urllib3.exceptions import NewConnectionError

from dunning import ledger
from dunning.channels import OutgoingCall, OutgoingText, Receipt
from dunning.db import unit_of_work
from dunning.documents import find_document, write_document
from dunning.errors import (
    ChannelError,
    ConfigError,
    PermanentChannelError,
    TransientChannelError,
    UnsureSendError,
)
from dunning.formatting import mask_phone
from dunning.models import Action, ActionKind, ActionState, Document, utcnow
from dunning.settings import Settings

log = logging.getLogger("dunning.channels.twilio")

# The SDK logs each request's query (a list by ``To`` carries the number) at
# INFO: it stays quiet unless something is wrong.
_SDK_LOG = logging.getLogger("dunning.channels.twilio.sdk")
_SDK_LOG.setLevel(logging.WARNING)

# Twilio's clock and ours may disagree a little: look back this much further.
CLOCK_SKEW = timedelta(minutes=2)

# Where each status stands; a status never replaces one of higher or equal rank.
CALL_STATUS_RANK = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "completed": 4,
    "busy": 4,
    "no-answer": 4,
    "failed": 4,
    "canceled": 4,
}
SMS_STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
}
FINAL_RANK = 4
KEYPAD_RESPONSES = {"1": "promise-confirmed", "2": "callback-requested"}

# How long after an attempt Twilio's lists are trusted to show it.
LIST_SETTLE = timedelta(seconds=60)

PERMANENT_CODES = {21211: "invalid", 21610: "opted_out", 21614: "not_sms_capable"}


@runtime_checkable
class StatusSource(Protocol):
    def fetch_status(self, ref: str) -> Receipt: ...


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    from_: str
    api_base: str
    timeout_seconds: float
    voice: str
    voice_language: str
    public_base_url: str
    keypad_prompt: str

    def __repr__(self) -> str:  # the token never reaches a log or a traceback
        return f"TwilioConfig(account_sid={self.account_sid!r}, from_=...)"

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioConfig:
        if not settings.twilio_account_sid:
            raise ConfigError(
                "the Twilio channel needs TWILIO_ACCOUNT_SID (and TWILIO_AUTH_TOKEN "
                "or DUNNING_TWILIO_SECRET_BLOCK); unset DUNNING_CHANNEL to use the "
                "outbox"
            )
        if not settings.twilio_from:
            raise ConfigError(
                "the Twilio channel needs DUNNING_TWILIO_FROM, the caller number "
                "in E.164 (like +8610...)"
            )
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=_auth_token(settings),
            from_=settings.twilio_from,
            api_base=settings.twilio_api_base,
            timeout_seconds=settings.twilio_timeout_seconds,
            voice=settings.voice,
            voice_language=settings.voice_language,
            public_base_url=settings.public_base_url.rstrip("/"),
            keypad_prompt=settings.call_keypad_prompt,
        )


def _auth_token(settings: Settings) -> str:
    if settings.twilio_auth_token is not None:
        return settings.twilio_auth_token.get_secret_value()
    if settings.twilio_secret_block:
        from prefect.blocks.system import Secret

        value = Secret.load(settings.twilio_secret_block).get()
        return str(value)
    raise ConfigError(
        "the Twilio channel needs TWILIO_AUTH_TOKEN or DUNNING_TWILIO_SECRET_BLOCK "
        "(the name of a Prefect Secret block holding the token)"
    )


def build_client(config: TwilioConfig) -> Client:
    """A client that reads nothing from the environment and logs no numbers."""
    http = TwilioHttpClient(timeout=config.timeout_seconds, logger=_SDK_LOG)
    # An explicit environment: TWILIO_EDGE / TWILIO_REGION would rewrite the
    # host; a regional edge is given as DUNNING_TWILIO_API_BASE instead.
    client = Client(
        config.account_sid,
        config.auth_token,
        http_client=http,
        environment={"TWILIO_ACCOUNT_SID": config.account_sid},
    )
    if config.api_base:
        client.api.base_url = config.api_base.rstrip("/")
    return client


def callback_url(config: TwilioConfig, path: str, key: str) -> str | None:
    """The public URL Twilio posts to, carrying the action's key; None if unset."""
    if not config.public_base_url:
        return None
    return f"{config.public_base_url}{path}?{urlencode({'key': key})}"


def call_twiml(config: TwilioConfig, script: str, key: str) -> str:
    """The call script read aloud, then (with a callback URL) one key to press."""
    response = VoiceResponse()
    lines = [line.strip() for line in script.splitlines() if line.strip()]
    gather_url = callback_url(config, "/twilio/gather", key)
    if gather_url is None:
        for line in lines:
            response.say(line, voice=config.voice, language=config.voice_language)
        return str(response)
    gather = response.gather(num_digits=1, action=gather_url, method="POST", timeout=8)
    for line in [*lines, config.keypad_prompt]:
        gather.say(line, voice=config.voice, language=config.voice_language)
    return str(response)


class TwilioChannel:
    name = "twilio"

    def __init__(
        self,
        database_url: str,
        outbox_dir: Path,
        config: TwilioConfig,
        throttle: Callable[[str], None] | None = None,
        client: Client | None = None,
    ) -> None:
        self.database_url = database_url
        self.outbox_dir = outbox_dir
        self.config = config
        self.throttle = throttle
        self.client = client or build_client(config)

    # Sending -------------------------------------------------------------

    def place_call(self, call: OutgoingCall) -> Receipt:
        self._record(call.key, "call", call.for_date, call.script, call, None)
        options: dict[str, Any] = {
            "to": call.to,
            "from_": self.config.from_,
            "twiml": call_twiml(self.config, call.script, call.key),
        }
        status_url = callback_url(self.config, "/twilio/status", call.key)
        if status_url:
            options |= {
                "status_callback": status_url,
                "status_callback_method": "POST",
                "status_callback_event": [
                    "initiated",
                    "ringing",
                    "answered",
                    "completed",
                ],
            }
        if self.throttle:
            self.throttle("call")
        try:
            created = self.client.calls.create(**options)
        except (TwilioRestException, requests.RequestException) as exc:
            raise map_error(exc, call.to, "call", creating=True) from None
        return Receipt(ref=created.sid, status=created.status or "queued")

    def send_text(self, text: OutgoingText) -> Receipt:
        self._record(text.key, "sms", text.for_date, text.body, text, text.segments)
        options: dict[str, Any] = {
            "to": text.to,
            "from_": self.config.from_,
            "body": text.body,
        }
        status_url = callback_url(self.config, "/twilio/status", text.key)
        if status_url:
            options["status_callback"] = status_url
        if self.throttle:
            self.throttle("sms")
        try:
            created = self.client.messages.create(**options)
        except (TwilioRestException, requests.RequestException) as exc:
            raise map_error(exc, text.to, "text", creating=True) from None
        return Receipt(ref=created.sid, status=created.status or "queued")

    def _record(
        self,
        key: str,
        kind: str,
        for_date: str,
        body: str,
        message: OutgoingCall | OutgoingText,
        segments: int | None,
    ) -> None:
        # Written before the create, in its own transaction: the moment and the
        # number an unsure send is looked for by.
        with unit_of_work(self.database_url) as session:
            write_document(
                session,
                self.outbox_dir,
                key=key,
                kind=kind,
                for_date=date.fromisoformat(for_date),
                body=body,
                suffix="txt",
                case_id=message.case_id,
                action_id=message.action_id,
                recipient=message.to,
                segments=segments,
            )

    # Reconciling ---------------------------------------------------------

    def find_sent(self, key: str) -> Receipt | None:
        """The call or text sent under ``key``, found by listing Twilio's records.

        Nothing was attempted without a document. Otherwise the oldest call (or
        text with the same body) to that number, from our number, since the
        document was written, that no other action already owns, is this one.
        """
        with unit_of_work(self.database_url) as session:
            document = find_document(session, key)
            if document is None:
                return None
            kind, to, body = document.kind, document.recipient, document.body
            since = document.created_at - CLOCK_SKEW
            owned = _owned_refs(session, document)
        # Twilio's lists can lag a create by seconds: an empty answer about a
        # send this recent proves nothing, and resending could call twice.
        recent = utcnow() - document.created_at < LIST_SETTLE
        try:
            found = self._list_since(kind, to, since)
        except (TwilioRestException, requests.RequestException) as exc:
            raise map_error(exc, to, "listing", creating=False) from None
        for sid, status, sent_body in found:
            if sid in owned:
                continue
            if kind == "sms" and sent_body != body:
                continue
            return Receipt(ref=sid, status=status)
        if recent:
            raise UnsureSendError(
                f"{kind} to {mask_phone(to)} was attempted under {key} moments ago "
                "and is not listed yet; it is looked up again later, not resent"
            )
        return None

    def _list_since(
        self, kind: str, to: str, since: datetime
    ) -> list[tuple[str, str, str]]:
        # Newest first; read until older than ``since``. No date filter on the
        # server: a queued call has no start time and a queued text no send date.
        source = self.client.calls if kind == "call" else self.client.messages
        found: list[tuple[str, str, str]] = []
        for item in source.stream(to=to, from_=self.config.from_, page_size=50):
            if item.date_created is not None and item.date_created < since:
                break
            found.append((item.sid, item.status, getattr(item, "body", "") or ""))
        found.reverse()  # oldest first: the first send after the claim is ours
        return found

    def fetch_status(self, ref: str) -> Receipt:
        try:
            if ref.startswith("CA"):
                item = self.client.calls(ref).fetch()
            else:
                item = self.client.messages(ref).fetch()
        except (TwilioRestException, requests.RequestException) as exc:
            raise map_error(exc, "", "status fetch", creating=False) from None
        return Receipt(ref=ref, status=str(item.status))


def _owned_refs(session: Session, document: Document) -> set[str]:
    """Twilio ids other actions already hold: never claimed a second time."""
    rows = session.scalars(
        select(Action.channel_ref).where(
            Action.channel == TwilioChannel.name,
            Action.channel_ref != "",
            Action.id != (document.action_id or -1),
        )
    )
    return set(rows)


def map_error(
    exc: Exception, to: str, what: str, *, creating: bool
) -> ChannelError | ConfigError:
    """Twilio's and the network's errors as dunning's, with the number masked.

    Callers raise the result ``from None``: Twilio's message and a listing's
    URL can carry the whole number, and a chained cause would print it.
    """
    number = mask_phone(to) if to.startswith("+") else "—"
    if isinstance(exc, TwilioRestException):
        status, code = exc.status, exc.code
        label = f"Twilio answered the {what} to {number} with {status} (error {code})"
        if status == 429 or code == 20429 or status >= 500:
            return TransientChannelError(f"{label}: will try again later")
        if status in (401, 403):
            return ConfigError(
                f"{label}: the account SID or auth token was refused; check "
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
            )
        if isinstance(code, int) and code in PERMANENT_CODES:
            return PermanentChannelError(label, contact_status=PERMANENT_CODES[code])
        # Another refusal of this one request: the action fails, the number
        # keeps its standing.
        return PermanentChannelError(label, contact_status="ok")
    never_connected = isinstance(exc, requests.ConnectTimeout) or isinstance(
        getattr(exc.args[0] if exc.args else None, "reason", None),
        NewConnectionError,
    )
    if creating and not never_connected:
        return UnsureSendError(
            f"the {what} to {number} was sent to Twilio but no answer came back "
            f"({type(exc).__name__}); it stays claimed and is looked up, not resent"
        )
    return TransientChannelError(
        f"could not reach Twilio for the {what} to {number} "
        f"({type(exc).__name__}): will try again later"
    )


# Statuses --------------------------------------------------------------------


def status_rank(kind: ActionKind, status: str) -> int | None:
    ranks = CALL_STATUS_RANK if kind == ActionKind.CALL else SMS_STATUS_RANK
    return ranks.get(status)


def is_final(kind: ActionKind, status: str) -> bool:
    return (status_rank(kind, status) or 0) >= FINAL_RANK


def advance_status(action: Action, status: str, at: datetime | None = None) -> bool:
    """Record ``status`` unless the action already stands as far or further."""
    new = status_rank(action.kind, status)
    if new is None:
        return False
    current = status_rank(action.kind, action.channel_status)
    if current is not None and new <= current:
        return False
    action.channel_status = status
    action.status_at = at or utcnow()
    action.outcome = status
    return True


def record_found(action: Action, receipt: Receipt) -> None:
    """A claimed action Twilio turns out to have: done, with its id and status."""
    action.channel = TwilioChannel.name
    ledger.finish(
        action, ActionState.DONE, outcome=receipt.status, channel_ref=receipt.ref
    )
    advance_status(action, receipt.status)


def record_keypad(session: Session, action: Action, digits: str) -> str | None:
    response = KEYPAD_RESPONSES.get(digits[:1])
    if response is None or action.response:
        return None
    action.response = response
    ledger.audit(
        session,
        "twilio",
        response,
        "action",
        action.id,
        case=action.case_id,
        loan=action.loan_id,
    )
    return response
