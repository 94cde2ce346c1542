"""How calls and texts leave the building: one small interface, many adapters.

Adapters map their foreign errors at the boundary into ``TransientChannelError``
(try again later) and ``PermanentChannelError`` (do not; the reason says what
to mark on the contact).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutgoingCall:
    key: str  # unique per ledger action: the same key is never placed twice
    action_id: int
    case_id: int
    for_date: str
    to: str
    script: str


@dataclass(frozen=True)
class OutgoingText:
    key: str
    action_id: int
    case_id: int
    for_date: str
    to: str
    body: str
    segments: int


@dataclass(frozen=True)
class Receipt:
    ref: str  # the channel's own id (a Twilio SID, an outbox document id)
    status: str


class Channel(Protocol):
    name: str

    def place_call(self, call: OutgoingCall) -> Receipt: ...

    def send_text(self, text: OutgoingText) -> Receipt: ...

    def find_sent(self, key: str) -> Receipt | None:
        """What went out under ``key``, if anything: how unsure claims resolve."""
        ...
