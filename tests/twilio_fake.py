"""A Twilio-compatible REST server on 127.0.0.1 for tests: calls and messages.

It speaks the shapes the twilio-python SDK reads (create, fetch, list with
paging), checks HTTP basic auth, walks each call and message through its
statuses, and fails on request: a scripted failure per create (429, 500,
21211, 21610, 21614, accept-then-drop-connection, accept-then-stall) or a
number that is always refused.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import yaml
from sqlalchemy import select

from dunning import daily
from dunning.db import unit_of_work
from dunning.generate import write_portfolio
from dunning.importing.canonical import import_canonical
from dunning.models import Action, ActionKind, ActionState
from dunning.settings import PROJECT_ROOT, Settings

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-token-" + "f" * 21

CALL_STEPS = ("queued", "ringing", "in-progress")
MESSAGE_STEPS = ("queued", "sent")

# Error bodies as Twilio sends them: HTTP status, code, message.
ERRORS: dict[str, tuple[int, int, str]] = {
    "429": (429, 20429, "Too Many Requests"),
    "500": (500, 20500, "Internal Server Error"),
    "503": (503, 20503, "Service Unavailable"),
    "21211": (400, 21211, "The 'To' number is not a valid phone number."),
    "21610": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "21614": (400, 21614, "'To' number is not a valid mobile number"),
    "21608": (400, 21608, "The number is unverified."),
}
# Accept the create, then close the socket without a response.
DROP = "drop"
# Accept the create, then answer only after the client has given up.
STALL = "stall"


def rfc2822(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


@dataclass
class Resource:
    kind: str  # "calls" or "messages"
    sid: str
    to: str
    from_: str
    created: datetime
    form: dict[str, str]
    final: str
    step: int = 0
    status: str = "queued"

    def advance(self) -> None:
        steps = CALL_STEPS if self.kind == "calls" else MESSAGE_STEPS
        self.step += 1
        self.status = steps[self.step] if self.step < len(steps) else self.final

    def json(self) -> dict[str, Any]:
        base = f"/2010-04-01/Accounts/{ACCOUNT_SID}/{self.kind.capitalize()}"
        common = {
            "sid": self.sid,
            "account_sid": ACCOUNT_SID,
            "to": self.to,
            "from": self.from_,
            "status": self.status,
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.created),
            "api_version": "2010-04-01",
            "uri": f"{base}/{self.sid}.json",
            "price": None,
            "price_unit": "USD",
        }
        if self.kind == "calls":
            return common | {
                "direction": "outbound-api",
                "start_time": None if self.step == 0 else rfc2822(self.created),
                "end_time": None,
                "duration": None,
                "answered_by": None,
                "parent_call_sid": None,
                "phone_number_sid": None,
                "to_formatted": self.to,
                "from_formatted": self.from_,
            }
        body = self.form.get("Body", "")
        return common | {
            "body": body,
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "date_sent": None if self.step == 0 else rfc2822(self.created),
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": None,
        }


@dataclass
class FakeTwilio:
    """The server's state; tests script it and read it back."""

    base_url: str = ""
    resources: dict[str, list[Resource]] = field(
        default_factory=lambda: {"calls": [], "messages": []}
    )
    scripts: dict[str, deque[str]] = field(
        default_factory=lambda: {"calls": deque(), "messages": deque()}
    )
    refused: dict[tuple[str, str], str] = field(default_factory=dict)
    finals: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    stall_seconds: float = 2.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, kind: str, *failures: str) -> None:
        """The next creates of ``kind`` ("calls" or "messages") fail in turn."""
        self.scripts[kind].extend(failures)

    def refuse(self, kind: str, number: str, failure: str) -> None:
        """Every create of ``kind`` to ``number`` fails with this error."""
        self.refused[(kind, number)] = failure

    def ends_as(self, number: str, status: str) -> None:
        """Calls (or texts) to ``number`` end in ``status``: busy, no-answer..."""
        self.finals[number] = status

    def finish_all(self) -> None:
        with self.lock:
            for items in self.resources.values():
                for item in items:
                    item.step, item.status = 99, item.final

    @property
    def calls(self) -> list[Resource]:
        return self.resources["calls"]

    @property
    def messages(self) -> list[Resource]:
        return self.resources["messages"]

    def creates(self, kind: str) -> int:
        return sum(1 for m, p in self.requests if m == "POST" and kind in p)


def _sid(kind: str) -> str:
    return ("CA" if kind == "calls" else "SM") + secrets.token_hex(16)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    # -- plumbing ---------------------------------------------------------

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, failure: str) -> None:
        status, code, message = ERRORS[failure]
        self._send_json(
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    def _authorised(self) -> bool:
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if self.headers.get("Authorization") == f"Basic {expected}":
            return True
        self._send_json(
            401,
            {"code": 20003, "message": "Authenticate", "status": 401},
        )
        return False

    def _route(self) -> tuple[str, str | None] | None:
        parts = urlsplit(self.path).path.strip("/").split("/")
        # 2010-04-01 / Accounts / {sid} / Calls.json | Calls / {Sid}.json
        if len(parts) < 4 or parts[:2] != ["2010-04-01", "Accounts"]:
            return None
        if parts[2] != ACCOUNT_SID:
            return None
        if len(parts) == 4 and parts[3] in ("Calls.json", "Messages.json"):
            return parts[3][: -len(".json")].lower(), None
        if len(parts) == 5 and parts[3] in ("Calls", "Messages"):
            return parts[3].lower(), parts[4].removesuffix(".json")
        return None

    def _not_found(self) -> None:
        self._send_json(404, {"code": 20404, "message": "Not found", "status": 404})

    # -- verbs ------------------------------------------------------------

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        with fake.lock:
            fake.requests.append(("POST", self.path))
        if not self._authorised():
            return
        route = self._route()
        if route is None or route[1] is not None:
            self._not_found()
            return
        kind = route[0]
        to = form.get("To", "")
        with fake.lock:
            failure = fake.refused.get((kind, to)) or (
                fake.scripts[kind].popleft() if fake.scripts[kind] else None
            )
        if failure in ERRORS:
            self._error(failure)
            return
        final = fake.finals.get(to, "completed" if kind == "calls" else "delivered")
        resource = Resource(
            kind=kind,
            sid=_sid(kind),
            to=to,
            from_=form.get("From", ""),
            created=datetime.now(UTC),
            form=form,
            final=final,
        )
        with fake.lock:
            fake.resources[kind].append(resource)
        if failure == DROP:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if failure == STALL:
            time.sleep(fake.stall_seconds)
        self._send_json(201, resource.json())

    def do_GET(self) -> None:
        fake = self.server.fake
        with fake.lock:
            fake.requests.append(("GET", self.path))
        if not self._authorised():
            return
        route = self._route()
        if route is None:
            self._not_found()
            return
        kind, sid = route
        if sid is not None:
            with fake.lock:
                found = next((r for r in fake.resources[kind] if r.sid == sid), None)
                if found is not None:
                    found.advance()
                    payload = found.json()
            if found is None:
                self._not_found()
            else:
                self._send_json(200, payload)
            return
        self._list(kind)

    def _list(self, kind: str) -> None:
        fake = self.server.fake
        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        page_size = int(query.get("PageSize", 50))
        page = int(query.get("Page", 0))
        # StartTime>= (calls) and DateSent>= (messages): a started or sent one
        # on or after the moment; a queued one has neither and never matches.
        after = query.get("StartTime>") or query.get("DateSent>")
        since = datetime.fromisoformat(after.replace("Z", "+00:00")) if after else None
        with fake.lock:
            items = [
                r
                for r in reversed(fake.resources[kind])  # newest first, as Twilio
                if r.to == query.get("To", r.to)
                and r.from_ == query.get("From", r.from_)
                and (since is None or (r.step > 0 and r.created >= since))
            ]
            chunk = [r.json() for r in items[page * page_size : (page + 1) * page_size]]
        path = urlsplit(self.path).path

        def page_uri(number: int) -> str:
            params = {k: v for k, v in query.items() if k not in ("Page", "PageToken")}
            return f"{path}?{urlencode(params | {'Page': number})}"

        more = (page + 1) * page_size < len(items)
        self._send_json(
            200,
            {
                kind: chunk,
                "page": page,
                "page_size": page_size,
                "start": page * page_size,
                "end": page * page_size + len(chunk) - 1,
                "uri": page_uri(page),
                "first_page_uri": page_uri(0),
                "previous_page_uri": page_uri(page - 1) if page else None,
                "next_page_uri": page_uri(page + 1) if more else None,
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTwilio


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """The fake on a random 127.0.0.1 port, stopped by its own handle after."""
    server = _Server(("127.0.0.1", 0), _Handler)
    fake = FakeTwilio(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


CALLER = "+861012345678"
# Twilio is told to post callbacks here; nothing in the tests connects to it.
PUBLIC_BASE = "http://127.0.0.1:8443/dunning"


@pytest.fixture
def twilio_env(
    fake_twilio: FakeTwilio, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Settings whose channel is Twilio, pointed at the fake; nothing else."""
    for name in ("TWILIO_EDGE", "TWILIO_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("DUNNING_TWILIO_API_BASE", fake_twilio.base_url)
    monkeypatch.setenv("DUNNING_TWILIO_FROM", CALLER)
    monkeypatch.setenv("DUNNING_TWILIO_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("DUNNING_PUBLIC_BASE_URL", PUBLIC_BASE)
    monkeypatch.setenv("DUNNING_CALL_RATE_PER_SECOND", "0")
    monkeypatch.setenv("DUNNING_SMS_RATE_PER_SECOND", "0")
    twilio_settings = Settings()
    assert twilio_settings.channel_name == "twilio"
    return twilio_settings


DAY = date(2026, 11, 5)
TEXTING_RULE = {
    "name": "early-texts",
    "kind": "sms",
    "from_dpd": 1,
    "template": "sms/early.txt",
}


def texting_config(folder: Path) -> Path:
    """The project's config with a text every day a case is overdue."""
    shutil.copytree(PROJECT_ROOT / "config", folder)
    playbook = yaml.safe_load((folder / "playbook.yaml").read_text(encoding="utf-8"))
    playbook["rules"].append(TEXTING_RULE)
    (folder / "playbook.yaml").write_text(
        yaml.safe_dump(playbook, allow_unicode=True), encoding="utf-8"
    )
    return folder


@pytest.fixture
def planned_day(twilio_env, tmp_path, monkeypatch) -> Any:
    """A small portfolio, planned for DAY, with calls and texts to carry out."""
    monkeypatch.setenv("DUNNING_CONFIG_DIR", str(texting_config(tmp_path / "cfg")))
    settings = Settings()
    bundle = write_portfolio(tmp_path / "bundle", date(2026, 11, 1), loans=30)
    with unit_of_work(settings.db_url) as session:
        assert not import_canonical(session, bundle, tmp_path / "import").rejects
    ctx = daily.RunContext(settings)
    daily.begin_run(ctx, DAY)
    daily.refresh(ctx, DAY)
    daily.plan(ctx, DAY)
    return settings


def planned(settings: Any, kind: str) -> list[Action]:
    with unit_of_work(settings.db_url) as session:
        return list(
            session.scalars(
                select(Action)
                .where(
                    Action.kind == ActionKind(kind),
                    Action.state == ActionState.PLANNED,
                )
                .order_by(Action.id)
            )
        )
