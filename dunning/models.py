"""The store: typed ORM models of the collection department's records.

Money columns are ``Numeric(16, 2)`` and come back as ``Decimal``. Business
dates are ``Date``; moments are timezone-aware ``DateTime``.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    relationship,
    validates,
)

MONEY = Numeric(16, 2)


def utcnow() -> datetime:
    return datetime.now(UTC)


class AwareDateTime(TypeDecorator[datetime]):
    """Stores moments in UTC and always hands back an aware datetime.

    SQLite keeps no offset, so a naive value read back is UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: moments must carry a zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class FreeText:
    """Operators' free text is stored with any ID or phone number in it masked."""

    @validates("notes", "reason", "removed_reason")
    def _scrub(self, _key: str, value: str) -> str:
        from dunning.formatting import scrub

        return scrub(value) if value else value


class GuarantorKind(enum.StrEnum):
    GUARANTOR = "guarantor"
    JOINT_GUARANTOR = "joint_guarantor"
    COUNTER_GUARANTOR = "counter_guarantor"


class CaseState(enum.StrEnum):
    OPEN = "open"
    LEGAL = "legal"
    RESOLVED = "resolved"


class ActionKind(enum.StrEnum):
    CALL = "call"
    SMS = "sms"
    VISIT = "visit"
    NOTICE = "notice"
    GUARANTOR_CONTACT = "guarantor_contact"
    LEGAL_REFERRAL = "legal_referral"


class ActionState(enum.StrEnum):
    PLANNED = "planned"
    # Claimed before anything leaves the building: a claimed action with no
    # channel reference is "unsure" and is reconciled, never blindly re-sent.
    CLAIMED = "claimed"
    # Handed to a person (visit sheet, notice to serve); awaits their outcome.
    ISSUED = "issued"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class PromiseState(enum.StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    BROKEN = "broken"


class OverdueReason(enum.StrEnum):
    CASH_FLOW = "cash-flow"
    MARKET = "market"
    FAMILY = "family"
    FRAUD = "fraud"
    UNKNOWN = "unknown"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK, so PostgreSQL and SQLite agree and a
    # new value is a one-line migration rather than an ALTER TYPE.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
    )


class Borrower(Base):
    __tablename__ = "borrowers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(400), default="")
    country: Mapped[str] = mapped_column(String(2), default="CN")
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow)

    phones: Mapped[list[Phone]] = relationship(
        back_populates="borrower", order_by="Phone.position"
    )
    loans: Mapped[list[Loan]] = relationship(back_populates="borrower")


class Phone(Base):
    """A contact number of a borrower, in E.164, with what we learnt of it."""

    __tablename__ = "phones"
    __table_args__ = (UniqueConstraint("borrower_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    borrower_id: Mapped[str] = mapped_column(ForeignKey("borrowers.id"), index=True)
    number: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer, default=0)
    line_type: Mapped[str] = mapped_column(String(24), default="unknown")
    # ok, invalid, opted_out, not_sms_capable: set by what a channel reports.
    status: Mapped[str] = mapped_column(String(24), default="ok")

    borrower: Mapped[Borrower] = relationship(back_populates="phones")


class Guarantor(Base):
    __tablename__ = "guarantors"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), default="")
    phone_line_type: Mapped[str] = mapped_column(String(24), default="unknown")
    phone_status: Mapped[str] = mapped_column(String(24), default="ok")
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)


class LoanGuarantor(Base):
    __tablename__ = "loan_guarantors"

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), primary_key=True)
    guarantor_id: Mapped[str] = mapped_column(
        ForeignKey("guarantors.id"), primary_key=True
    )
    kind: Mapped[GuarantorKind] = mapped_column(_enum(GuarantorKind, "guarantor_kind"))

    guarantor: Mapped[Guarantor] = relationship()


class Loan(Base):
    __tablename__ = "loans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    borrower_id: Mapped[str] = mapped_column(ForeignKey("borrowers.id"), index=True)
    product: Mapped[str] = mapped_column(String(64))
    # Nullable: some sources (the Home Credit sample) do not carry it.
    principal: Mapped[Decimal | None] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    branch: Mapped[str] = mapped_column(String(100))
    officer: Mapped[str] = mapped_column(String(100))

    borrower: Mapped[Borrower] = relationship(back_populates="loans")
    installments: Mapped[list[Installment]] = relationship(
        order_by="Installment.due_on, Installment.seq"
    )
    payments: Mapped[list[Payment]] = relationship(
        order_by="Payment.paid_on, Payment.id"
    )
    guarantors: Mapped[list[LoanGuarantor]] = relationship()


class Installment(Base):
    __tablename__ = "installments"
    __table_args__ = (UniqueConstraint("loan_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    seq: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)


Index("ix_installments_loan_due", Installment.loan_id, Installment.due_on)


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    paid_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    source: Mapped[str] = mapped_column(String(32), default="import")
    recorded_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow)


Index("ix_payments_loan_paid", Payment.loan_id, Payment.paid_on)


class Case(Base):
    """One delinquency episode of one loan."""

    __tablename__ = "cases"
    __table_args__ = (
        # At most one case a loan that is not resolved.
        Index(
            "uq_cases_loan_unresolved",
            "loan_id",
            unique=True,
            sqlite_where=text("state != 'resolved'"),
            postgresql_where=text("state != 'resolved'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    state: Mapped[CaseState] = mapped_column(_enum(CaseState, "case_state"))
    opened_on: Mapped[date] = mapped_column(Date)
    # First day of the episode's arrears: due date of the oldest unpaid + 1.
    overdue_since: Mapped[date] = mapped_column(Date)
    resolved_on: Mapped[date | None] = mapped_column(Date)
    referred_on: Mapped[date | None] = mapped_column(Date)
    refreshed_on: Mapped[date] = mapped_column(Date)
    dpd: Mapped[int] = mapped_column(Integer)
    max_dpd: Mapped[int] = mapped_column(Integer)
    arrears: Mapped[Decimal] = mapped_column(MONEY)
    penalty: Mapped[Decimal] = mapped_column(MONEY)
    reason: Mapped[OverdueReason] = mapped_column(
        _enum(OverdueReason, "overdue_reason"), default=OverdueReason.UNKNOWN
    )

    loan: Mapped[Loan] = relationship()


class CaseDay(Base):
    """The case as one daily run saw it: arrears over time."""

    __tablename__ = "case_days"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    on: Mapped[date] = mapped_column(Date, primary_key=True)
    dpd: Mapped[int] = mapped_column(Integer)
    arrears: Mapped[Decimal] = mapped_column(MONEY)
    penalty: Mapped[Decimal] = mapped_column(MONEY)


class Action(FreeText, Base):
    """The ledger: one planned or executed step of a case on a day."""

    __tablename__ = "actions"
    __table_args__ = (UniqueConstraint("case_id", "kind", "target", "planned_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    kind: Mapped[ActionKind] = mapped_column(_enum(ActionKind, "action_kind"))
    target: Mapped[str] = mapped_column(String(80))
    planned_on: Mapped[date] = mapped_column(Date)
    rule: Mapped[str] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(100), default="")
    purpose: Mapped[str] = mapped_column(String(60), default="")
    state: Mapped[ActionState] = mapped_column(_enum(ActionState, "action_state"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str] = mapped_column(String(24), default="")
    channel_ref: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(40), default="")
    skip_reason: Mapped[str] = mapped_column(String(40), default="")
    error: Mapped[str] = mapped_column(String(400), default="")
    officer: Mapped[str] = mapped_column(String(100), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    claimed_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow)
    # What the channel last reported (queued ... completed, delivered) and when;
    # a status only ever moves forward, however late or out of order it arrives.
    channel_status: Mapped[str] = mapped_column(
        String(24), default="", server_default=""
    )
    status_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    # What the borrower answered on the keypad: promise-confirmed, callback.
    response: Mapped[str] = mapped_column(String(24), default="", server_default="")
    segments: Mapped[int | None] = mapped_column(Integer)


Index("ix_actions_day_kind_state", Action.planned_on, Action.kind, Action.state)


class Promise(Base):
    __tablename__ = "promises"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id"))
    made_on: Mapped[date] = mapped_column(Date)
    promised_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    state: Mapped[PromiseState] = mapped_column(_enum(PromiseState, "promise_state"))
    settled_on: Mapped[date | None] = mapped_column(Date)


class Notice(Base):
    """A written notice issued for service (overdue notice, guarantor notice)."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    recipient: Mapped[str] = mapped_column(String(80))
    issued_on: Mapped[date] = mapped_column(Date)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    served_on: Mapped[date | None] = mapped_column(Date)
    served_by: Mapped[str] = mapped_column(String(100), default="")
    served_how: Mapped[str] = mapped_column(String(40), default="")
    proof: Mapped[str] = mapped_column(String(200), default="")


class LegalReferral(Base):
    __tablename__ = "legal_referrals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id"))
    referred_on: Mapped[date] = mapped_column(Date)
    dpd: Mapped[int] = mapped_column(Integer)
    arrears: Mapped[Decimal] = mapped_column(MONEY)
    penalty: Mapped[Decimal] = mapped_column(MONEY)
    reason: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(24), default="referred")
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))


class BlacklistEntry(FreeText, Base):
    __tablename__ = "blacklist"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    borrower_id: Mapped[str] = mapped_column(ForeignKey("borrowers.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    listed_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200))
    removed_on: Mapped[date | None] = mapped_column(Date)
    removed_reason: Mapped[str] = mapped_column(String(200), default="")


class Document(Base):
    """Everything rendered for a person or a channel: the outbox of record.

    ``key`` makes rendering idempotent: the same document for the same action
    (or officer and day) is written once, however often a run is repeated.
    """

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id"))
    for_date: Mapped[date] = mapped_column(Date)
    recipient: Mapped[str] = mapped_column(String(80), default="")
    path: Mapped[str] = mapped_column(String(400))
    content_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    segments: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow)


class DailyRun(Base):
    __tablename__ = "daily_runs"

    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(AwareDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    flow_run_id: Mapped[str] = mapped_column(String(64), default="")
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AuditEntry(Base):
    """Append-only: the database refuses updates and deletes of this table."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# Legal hand-over, operators' escalations and notice service ----------------
#
# Added alongside the records above and never changing them: the referral's
# approval and send-back, the legal department's recovery steps, installment
# agreements, escalations from the operators' console, and who a notice was
# served on.


class ReferralState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SENT_BACK = "sent-back"
    # Legal agreed an installment plan: back in collection while it is kept.
    AGREEMENT = "agreement"
    CLOSED = "closed"


class ReferralDecision(FreeText, Base):
    """A supervisor's answer to a referral, or the default applied on timeout."""

    __tablename__ = "referral_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(
        ForeignKey("legal_referrals.id"), index=True
    )
    decided_on: Mapped[date] = mapped_column(Date)
    decision: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(400), default="")
    send_back_days: Mapped[int | None] = mapped_column(Integer)
    decided_by: Mapped[str] = mapped_column(String(100))
    flow_run_id: Mapped[str] = mapped_column(String(64), default="")
    by_default: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow)


class LegalStep(FreeText, Base):
    """One recovery step of the legal department: lawsuit, freeze, judgment..."""

    __tablename__ = "legal_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    step: Mapped[str] = mapped_column(String(40))
    on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    reference: Mapped[str] = mapped_column(String(100), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    effect: Mapped[str] = mapped_column(String(24), default="")
    recorded_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow)


class InstallmentAgreement(Base):
    """A negotiated plan to repay the arrears in parts, watched for breaks."""

    __tablename__ = "installment_agreements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    made_on: Mapped[date] = mapped_column(Date)
    # [{"due_on": "2026-12-10", "amount": "500.00"}, ...] in date order.
    parts: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(24), default="active")
    broken_on: Mapped[date | None] = mapped_column(Date)
    made_by: Mapped[str] = mapped_column(String(100), default="")


class Escalation(FreeText, Base):
    """An operator's escalation of a case from the console or the command line."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    on: Mapped[date] = mapped_column(Date)
    target: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(400))
    operator: Mapped[str] = mapped_column(String(100))
    flow_run_id: Mapped[str] = mapped_column(String(64), default="")
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id"))
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow)


class LegalReferralApproval(Base):
    """Where a referral stands in the approval batches, one row a referral."""

    __tablename__ = "legal_referral_approvals"

    referral_id: Mapped[int] = mapped_column(
        ForeignKey("legal_referrals.id"), primary_key=True
    )
    held_until: Mapped[date | None] = mapped_column(Date)
    approval_flow_run_id: Mapped[str] = mapped_column(String(64), default="")
    asked_on: Mapped[date | None] = mapped_column(Date)
    # The legal department's own copy (full ID numbers): a file outside the
    # outbox, so only its path and hash are kept here, never its body.
    restricted_path: Mapped[str] = mapped_column(String(400), default="")
    restricted_hash: Mapped[str] = mapped_column(String(64), default="")


class NoticeService(FreeText, Base):
    """One attempt at serving a notice: on whom, how, and the proof of it."""

    __tablename__ = "notice_services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    attempted_on: Mapped[date] = mapped_column(Date)
    served: Mapped[bool] = mapped_column(Boolean)
    served_by: Mapped[str] = mapped_column(String(100))
    served_to: Mapped[str] = mapped_column(String(200), default="")
    # in-person (signed receipt) or registered-mail (tracking number).
    how: Mapped[str] = mapped_column(String(24), default="")
    proof: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(String(400), default="")
    retry_action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id"))
    recorded_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow)
