"""help_center: a GIN index over the weighted search document (PostgreSQL only)

Revision ID: help_center_0002
Revises: help_center_0001
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "help_center_0002"
down_revision: str | Sequence[str] | None = "help_center_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_help_center_search_document"
# The expression the search query repeats (models.PG_SEARCH_DOCUMENT): the planner uses an
# expression index only for that exact expression.
DOCUMENT = (
    "(setweight(to_tsvector('english', title), 'A') || "
    "setweight(to_tsvector('english', body), 'B'))"
)


def upgrade() -> None:
    # SQLite searches through its FTS5 table (help_center_0001) and has no to_tsvector.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(INDEX, "help_center_search_entry", [sa.text(DOCUMENT)], postgresql_using="gin")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="help_center_search_entry")
