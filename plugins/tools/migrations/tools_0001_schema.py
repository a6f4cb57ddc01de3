"""tools schema

Revision ID: tools_0001
Revises:
Create Date: 2026-11-23 11:41:10.100308
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tools_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("tools",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "tools_speed_test_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("measured_at", sa.DateTime(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("download_mbps", sa.Float(), nullable=False),
        sa.Column("upload_mbps", sa.Float(), nullable=False),
        sa.Column("verdict", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["ab_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tools_speed_test_result", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tools_speed_test_result_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tools_speed_test_result", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tools_speed_test_result_user_id"))

    op.drop_table("tools_speed_test_result")
