"""legal handover: approvals, legal steps, agreements, escalations, service

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 00:05:00

New tables only. Written against 0001 and chained after 0002, which touches
none of the tables used here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "installment_agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("broken_on", sa.Date(), nullable=True),
        sa.Column("made_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_installment_agreements_case_id_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installment_agreements")),
    )
    with op.batch_alter_table("installment_agreements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_installment_agreements_case_id"), ["case_id"], unique=False
        )

    op.create_table(
        "legal_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=40), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("amount", sa.Numeric(precision=16, scale=2), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("effect", sa.String(length=24), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_legal_steps_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_steps")),
    )
    with op.batch_alter_table("legal_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_legal_steps_case_id"), ["case_id"], unique=False
        )

    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"], ["actions.id"], name=op.f("fk_escalations_action_id_actions")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_escalations_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_escalations_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
    )
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_escalations_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_escalations_loan_id"), ["loan_id"], unique=False
        )

    op.create_table(
        "legal_referral_approvals",
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("held_until", sa.Date(), nullable=True),
        sa.Column("approval_flow_run_id", sa.String(length=64), nullable=False),
        sa.Column("asked_on", sa.Date(), nullable=True),
        sa.Column("restricted_path", sa.String(length=400), nullable=False),
        sa.Column("restricted_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["legal_referrals.id"],
            name=op.f("fk_legal_referral_approvals_referral_id_legal_referrals"),
        ),
        sa.PrimaryKeyConstraint(
            "referral_id", name=op.f("pk_legal_referral_approvals")
        ),
    )
    op.create_table(
        "notice_services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("attempted_on", sa.Date(), nullable=False),
        sa.Column("served", sa.Boolean(), nullable=False),
        sa.Column("served_by", sa.String(length=100), nullable=False),
        sa.Column("served_to", sa.String(length=200), nullable=False),
        sa.Column("how", sa.String(length=24), nullable=False),
        sa.Column("proof", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.String(length=400), nullable=False),
        sa.Column("retry_action_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_notice_services_notice_id_notices"),
        ),
        sa.ForeignKeyConstraint(
            ["retry_action_id"],
            ["actions.id"],
            name=op.f("fk_notice_services_retry_action_id_actions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_services")),
    )
    with op.batch_alter_table("notice_services", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notice_services_notice_id"), ["notice_id"], unique=False
        )

    op.create_table(
        "referral_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("decision", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.Column("send_back_days", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=False),
        sa.Column("by_default", sa.Boolean(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["legal_referrals.id"],
            name=op.f("fk_referral_decisions_referral_id_legal_referrals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_decisions")),
    )
    with op.batch_alter_table("referral_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referral_decisions_referral_id"),
            ["referral_id"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("referral_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_decisions_referral_id"))

    op.drop_table("referral_decisions")
    with op.batch_alter_table("notice_services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_services_notice_id"))

    op.drop_table("notice_services")
    op.drop_table("legal_referral_approvals")
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalations_loan_id"))
        batch_op.drop_index(batch_op.f("ix_escalations_case_id"))

    op.drop_table("escalations")
    with op.batch_alter_table("legal_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_steps_case_id"))

    op.drop_table("legal_steps")
    with op.batch_alter_table("installment_agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_installment_agreements_case_id"))

    op.drop_table("installment_agreements")
