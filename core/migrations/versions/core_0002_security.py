"""security: user access, group rules

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-11-23 11:56:00.425688
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.immutable import allow_row_changes, forbid_row_changes

revision: str = "core_0002"
down_revision: str | Sequence[str] | None = "core_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bo_group_rule_state",
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["role_id"], ["ab_role.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("role_id", "rule"),
    )
    op.create_table(
        "bo_user_access",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("telehealth_enabled", sa.Boolean(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("session_started_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["ab_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    forbid_row_changes("bo_audit_log")  # the audit log is append-only


def downgrade() -> None:
    allow_row_changes("bo_audit_log")  # the audit log is append-only
    op.drop_table("bo_user_access")
    op.drop_table("bo_group_rule_state")
