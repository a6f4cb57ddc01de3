"""security: user access, group rules

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-11-23 11:56:00.425688
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

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
    _protect_audit_log()


def downgrade() -> None:
    _unprotect_audit_log()
    op.drop_table("bo_user_access")
    op.drop_table("bo_group_rule_state")


# The audit log is append-only: the database itself refuses UPDATE and DELETE.
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION bo_audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'bo_audit_log is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def _protect_audit_log() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER bo_audit_log_append_only BEFORE UPDATE OR DELETE ON bo_audit_log "
            "FOR EACH ROW EXECUTE FUNCTION bo_audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER bo_audit_log_no_truncate BEFORE TRUNCATE ON bo_audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION bo_audit_log_append_only()"
        )
    elif op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER bo_audit_log_no_{verb.lower()} BEFORE {verb} ON bo_audit_log "
                f"BEGIN SELECT RAISE(ABORT, 'bo_audit_log is append-only: {verb} refused'); END"
            )


def _unprotect_audit_log() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS bo_audit_log_append_only ON bo_audit_log")
        op.execute("DROP TRIGGER IF EXISTS bo_audit_log_no_truncate ON bo_audit_log")
        op.execute("DROP FUNCTION IF EXISTS bo_audit_log_append_only()")
    elif op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS bo_audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS bo_audit_log_no_delete")
