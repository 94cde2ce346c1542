"""Twilio's status callbacks and keypad answers, received onto the ledger.

A small ASGI app. Every request must carry a valid ``X-Twilio-Signature``,
checked against the public URL Twilio posted to: the configured public base
plus the path and query, so it validates behind a proxy that rewrites the
host. A request that fails is refused with 403 and changes nothing.

Start it with ``dunning webhooks --host 127.0.0.1 --port 8080`` and publish it
at ``DUNNING_PUBLIC_BASE_URL``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from dunning.channels import Receipt
from dunning.channels.twilio import (
    TwilioConfig,
    advance_status,
    record_found,
    record_keypad,
)
from dunning.db import unit_of_work
from dunning.errors import ConfigError
from dunning.models import Action, ActionKind, ActionState
from dunning.settings import Settings

log = logging.getLogger("dunning.webhooks")

SID_PREFIXES = {ActionKind.CALL: ("CA",), ActionKind.SMS: ("SM", "MM")}


@dataclass(frozen=True)
class Callback:
    key: str
    sid: str
    status: str
    digits: str = ""


def create_app(settings: Settings) -> Starlette:
    """The receiver for one database and one Twilio account."""
    config = TwilioConfig.from_settings(settings)
    if not config.public_base_url:
        raise ConfigError(
            "the status-callback receiver needs DUNNING_PUBLIC_BASE_URL: the URL "
            "Twilio reaches it at, which signatures are checked against"
        )
    validator = RequestValidator(config.auth_token)
    url = settings.db_url

    async def signed_form(request: Request) -> dict[str, str] | None:
        body = await _bounded_body(request)
        try:
            params = dict(parse_qsl(body.decode("utf-8"), True))
        except UnicodeDecodeError:
            return None
        public = config.public_base_url + request.url.path.removeprefix(
            request.scope.get("root_path", "")
        )
        if request.url.query:
            public += f"?{request.url.query}"
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(public, params, signature):
            log.warning("refused a callback to %s: bad signature", request.url.path)
            return None
        return params

    async def status(request: Request) -> Response:
        params = await signed_form(request)
        if params is None:
            return PlainTextResponse("invalid signature", status_code=403)
        callback = Callback(
            key=request.query_params.get("key", ""),
            sid=params.get("CallSid") or params.get("MessageSid", ""),
            status=params.get("CallStatus")
            or params.get("MessageStatus")
            or params.get("SmsStatus", ""),
        )
        result = await run_in_threadpool(record_callback, url, callback)
        return PlainTextResponse(result)

    async def gather(request: Request) -> Response:
        params = await signed_form(request)
        if params is None:
            return PlainTextResponse("invalid signature", status_code=403)
        callback = Callback(
            key=request.query_params.get("key", ""),
            sid=params.get("CallSid", ""),
            status=params.get("CallStatus", ""),
            digits=params.get("Digits", ""),
        )
        await run_in_threadpool(record_callback, url, callback)
        reply = VoiceResponse()
        reply.say(
            settings.call_keypad_thanks,
            voice=config.voice,
            language=config.voice_language,
        )
        reply.hangup()
        return Response(str(reply), media_type="application/xml")

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/twilio/status", status, methods=["POST"]),
            Route("/twilio/gather", gather, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        exception_handlers={BodyTooLarge: _too_large},
    )


async def _too_large(request: Request, exc: Exception) -> Response:
    log.warning("refused a callback to %s: body too large", request.url.path)
    return PlainTextResponse("request body too large", status_code=413)


# Twilio's callbacks are a few hundred bytes; anything near this is not one.
MAX_BODY = 64 * 1024
KEYPAD_ANSWERS = ("1", "2")


class BodyTooLarge(Exception):
    """A request body past MAX_BODY: refused before it is read whole."""


async def _bounded_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BodyTooLarge
    return body


def record_callback(url: str, callback: Callback) -> str:
    """Put what Twilio reported on the action; say what was done, for the log."""
    with unit_of_work(url) as session:
        action = find_action(session, callback)
        if action is None:
            log.warning("callback for an unknown action (sid %s)", callback.sid)
            return "unknown"
        if action.state == ActionState.CLAIMED and callback.sid:
            # The create's answer was lost, the callback was not: settled here.
            record_found(action, Receipt(ref=callback.sid, status=callback.status))
        result = "ignored"
        if callback.status and advance_status(action, callback.status):
            result = "recorded"
        if action.kind == ActionKind.CALL and callback.digits in KEYPAD_ANSWERS:
            response = record_keypad(session, action, callback.digits)
            if response:
                result = response
        log.info(
            "action %d (case %d): %s %s -> %s",
            action.id,
            action.case_id,
            callback.sid,
            callback.status or callback.digits or "-",
            result,
        )
        return result


def find_action(session: Session, callback: Callback) -> Action | None:
    """The action by the key in the URL, checked against the SID; else by SID."""
    kind, _, raw_id = callback.key.partition(":")
    action: Action | None = None
    if raw_id.isdigit() and kind in (ActionKind.CALL, ActionKind.SMS):
        action = session.get(Action, int(raw_id))
        if action is not None and action.kind != ActionKind(kind):
            return None
    elif callback.sid:
        action = session.scalar(
            select(Action).where(Action.channel_ref == callback.sid)
        )
    if action is None or not callback.sid:
        return None
    # Only what went out (or may have) takes a status: never a skipped, failed
    # or planned action, whatever a signed URL says.
    if action.state not in (ActionState.CLAIMED, ActionState.DONE):
        return None
    if not callback.sid.startswith(SID_PREFIXES[action.kind]):
        return None
    if action.channel_ref != callback.sid and not (
        action.state == ActionState.CLAIMED and not action.channel_ref
    ):
        return None
    return action
