"""staff chat

Revision ID: staff_chat_0001
Revises:
Create Date: 2026-11-23 12:21:12.470317
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "staff_chat_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("staff_chat",)
depends_on: str | Sequence[str] | None = "core_0003"


def upgrade() -> None:
    op.create_table(
        "staff_chat_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["ab_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("staff_chat_message", schema=None) as batch_op:
        batch_op.create_index("ix_staff_chat_message_channel_id", ["channel", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_staff_chat_message_sender_id"), ["sender_id"], unique=False
        )

    op.create_table(
        "staff_chat_read_marker",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("last_read_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["ab_user.id"],
        ),
        sa.PrimaryKeyConstraint("user_id", "channel"),
    )


def downgrade() -> None:
    op.drop_table("staff_chat_read_marker")
    with op.batch_alter_table("staff_chat_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_chat_message_sender_id"))
        batch_op.drop_index("ix_staff_chat_message_channel_id")

    op.drop_table("staff_chat_message")
