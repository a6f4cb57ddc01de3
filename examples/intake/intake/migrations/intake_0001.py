"""intake schema

Revision ID: intake_0001
Revises:
Create Date: 2026-12-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "intake_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("intake",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "intake_form",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("completed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["bo_client.id"]),
        sa.ForeignKeyConstraint(["completed_by_id"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id"),
    )
    with op.batch_alter_table("intake_form", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intake_form_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_intake_form_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("intake_form", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_form_status"))
        batch_op.drop_index(batch_op.f("ix_intake_form_client_id"))
    op.drop_table("intake_form")
