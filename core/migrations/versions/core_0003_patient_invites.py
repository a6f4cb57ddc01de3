"""patient invites

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-11-23 12:09:05.190922
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0003"
down_revision: str | Sequence[str] | None = "core_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bo_patient_invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["bo_client.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["ab_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("bo_patient_invite", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bo_patient_invite_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_bo_patient_invite_provider_id"), ["provider_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_bo_patient_invite_reference"), ["reference"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bo_patient_invite", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bo_patient_invite_reference"))
        batch_op.drop_index(batch_op.f("ix_bo_patient_invite_provider_id"))
        batch_op.drop_index(batch_op.f("ix_bo_patient_invite_client_id"))

    op.drop_table("bo_patient_invite")
