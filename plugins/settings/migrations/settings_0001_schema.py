"""settings schema

Revision ID: settings_0001
Revises:
Create Date: 2026-12-04 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "settings_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("settings",)
depends_on: str | Sequence[str] | None = "core_0004"


def upgrade() -> None:
    op.create_table(
        "settings_quickvite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("patient_name", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("sent_by", sa.String(length=100), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("sms_message_id", sa.Integer(), nullable=True),
        sa.Column("email_message_id", sa.Integer(), nullable=True),
        sa.Column("arrived_at", sa.DateTime(), nullable=True),
        sa.Column("replaced_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["invite_id"], ["bo_patient_invite.id"]),
        sa.ForeignKeyConstraint(["provider_id"], ["ab_user.id"]),
        sa.ForeignKeyConstraint(["sms_message_id"], ["bo_outbound_message.id"]),
        sa.ForeignKeyConstraint(["email_message_id"], ["bo_outbound_message.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invite_id"),
    )
    with op.batch_alter_table("settings_quickvite", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settings_quickvite_provider_id"), ["provider_id"])
        batch_op.create_index(batch_op.f("ix_settings_quickvite_sent_at"), ["sent_at"])


def downgrade() -> None:
    with op.batch_alter_table("settings_quickvite", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settings_quickvite_sent_at"))
        batch_op.drop_index(batch_op.f("ix_settings_quickvite_provider_id"))
    op.drop_table("settings_quickvite")
