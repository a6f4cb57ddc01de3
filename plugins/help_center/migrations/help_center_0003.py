"""help_center: the content type of an uploaded video tutorial, detected from its bytes

Revision ID: help_center_0003
Revises: help_center_0002
Create Date: 2026-12-06 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "help_center_0003"
down_revision: str | Sequence[str] | None = "help_center_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("help_center_video", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_type", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("help_center_video", schema=None) as batch_op:
        batch_op.drop_column("content_type")
