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
        with unit_of_work(self.database_url) as session:
            document = write_document(
                session,
                self.outbox_dir,
                key=call.key,
                kind="call",
                for_date=date.fromisoformat(call.for_date),
                body=call.script,
                suffix="txt",
                case_id=call.case_id,
                action_id=call.action_id,
                recipient=call.to,
            )
            return Receipt(ref=f"outbox-{document.id}", status="recorded")

    def send_text(self, text: OutgoingText) -> Receipt:
        with unit_of_work(self.database_url) as session:
            document = write_document(
                session,
                self.outbox_dir,
                key=text.key,
                kind="sms",
                for_date=date.fromisoformat(text.for_date),
                body=text.body,
                suffix="txt",
                case_id=text.case_id,
                action_id=text.action_id,
                recipient=text.to,
                segments=text.segments,
            )
            return Receipt(ref=f"outbox-{document.id}", status="recorded")

    def find_sent(self, key: str) -> Receipt | None:
        with unit_of_work(self.database_url) as session:
            document = find_document(session, key)
            if document is None:
                return None
            return Receipt(ref=f"outbox-{document.id}", status="recorded")
