"""reporting schema

Revision ID: reporting_0001
Revises:
Create Date: 2026-12-04 03:56:23.597055
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "reporting_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("reporting",)
depends_on: str | Sequence[str] | None = "core_0003"


def upgrade() -> None:
    op.create_table(
        "reporting_sent_invite",
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("invite_id"),
    )
    op.create_table(
        "reporting_visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("invite_id", sa.Integer(), nullable=True),
        sa.Column("invite_kind", sa.String(length=20), nullable=False),
        sa.Column("arrived_at", sa.DateTime(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("local_hour", sa.Integer(), nullable=False),
        sa.Column("local_weekday", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("ended_how", sa.String(length=20), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("first_admitted_at", sa.DateTime(), nullable=True),
        sa.Column("waited_seconds", sa.Integer(), nullable=True),
        sa.Column("admissions", sa.Integer(), nullable=False),
        sa.Column("sent_back", sa.Integer(), nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("session_started_at", sa.DateTime(), nullable=True),
        sa.Column("session_ended_at", sa.DateTime(), nullable=True),
        sa.Column("session_seconds", sa.Integer(), nullable=True),
        sa.Column("copay_status", sa.String(length=20), nullable=False),
        sa.Column("copay_cents", sa.Integer(), nullable=True),
        sa.Column("copay_method", sa.String(length=20), nullable=True),
        sa.Column("consent_status", sa.String(length=20), nullable=False),
        sa.Column("invite_sent_at", sa.DateTime(), nullable=True),
        sa.Column("invite_channel", sa.String(length=10), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id"),
        sa.UniqueConstraint("session_id"),
    )
    with op.batch_alter_table("reporting_visit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reporting_visit_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            "ix_reporting_visit_figures",
            [
                "local_date",
                "provider_id",
                "invite_kind",
                "outcome",
                "local_hour",
                "local_weekday",
                "copay_status",
                "copay_method",
                "copay_cents",
                "session_seconds",
                "waited_seconds",
            ],
            unique=False,
        )
        batch_op.create_index(
            "ix_reporting_visit_arrived", ["local_date", "arrived_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reporting_visit_invite_id"), ["invite_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reporting_visit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reporting_visit_invite_id"))
        batch_op.drop_index("ix_reporting_visit_figures")
        batch_op.drop_index("ix_reporting_visit_arrived")
        batch_op.drop_index(batch_op.f("ix_reporting_visit_client_id"))

    op.drop_table("reporting_visit")
    op.drop_table("reporting_sent_invite")
