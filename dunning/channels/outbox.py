"""The embedded default channel: records what would have been sent.

It behaves as an outside system would: each call or text is written in its own
transaction, so the ledger's claim, the send and the ledger's "done" are three
separate facts, exactly as with a real telephone company.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from dunning.channels import OutgoingCall, OutgoingText, Receipt
from dunning.db import unit_of_work
from dunning.documents import find_document, write_document


class OutboxChannel:
    name = "outbox"

    def __init__(self, database_url: str, outbox_dir: Path) -> None:
        self.database_url = database_url
        self.outbox_dir = outbox_dir

    def place_call(self, call: OutgoingCall) -> Receipt:
        return self._record(call, "call", call.script, segments=None)

    def send_text(self, text: OutgoingText) -> Receipt:
        return self._record(text, "sms", text.body, segments=text.segments)

    def _record(
        self,
        message: OutgoingCall | OutgoingText,
        kind: str,
        body: str,
        segments: int | None,
    ) -> Receipt:
        with unit_of_work(self.database_url) as session:
            document = write_document(
                session,
                self.outbox_dir,
                key=message.key,
                kind=kind,
                for_date=date.fromisoformat(message.for_date),
                body=body,
                suffix="txt",
                case_id=message.case_id,
                action_id=message.action_id,
                recipient=message.to,
                segments=segments,
            )
            return Receipt(ref=f"outbox-{document.id}", status="recorded")

    def find_sent(self, key: str) -> Receipt | None:
        with unit_of_work(self.database_url) as session:
            document = find_document(session, key)
            if document is None:
                return None
            return Receipt(ref=f"outbox-{document.id}", status="recorded")
