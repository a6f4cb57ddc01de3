"""waiting room: the line's indexes, so that a place in line is an index range count

Revision ID: waiting_room_0003
Revises: waiting_room_0002
Create Date: 2026-12-04 01:25:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "waiting_room_0003"
down_revision: str | Sequence[str] | None = "waiting_room_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("waiting_room_entry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_waiting_room_entry_line", ["status", "arrived_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_waiting_room_entry_provider_line",
            ["status", "provider_id", "arrived_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("waiting_room_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_waiting_room_entry_provider_line")
        batch_op.drop_index("ix_waiting_room_entry_line")
