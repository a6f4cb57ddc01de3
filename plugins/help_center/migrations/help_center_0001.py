"""help_center schema: practice articles, video tutorials, tour offers, search index

Revision ID: help_center_0001
Revises:
Create Date: 2026-12-04 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "help_center_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("help_center",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "help_center_article",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("audience", sa.String(length=100), nullable=False),
        sa.Column("pages", sa.String(length=500), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "help_center_video",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("file", sa.Text(), nullable=True),
        sa.Column("page", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "help_center_tour_offer",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("offered_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "help_center_search_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "slug"),
    )
    op.create_table(
        "help_center_search_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE help_center_fts USING fts5(title, body, "
            "content='help_center_search_entry', content_rowid='id', "
            "tokenize='porter unicode61')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS help_center_fts")
    op.drop_table("help_center_search_state")
    op.drop_table("help_center_search_entry")
    op.drop_table("help_center_tour_offer")
    op.drop_table("help_center_video")
    op.drop_table("help_center_article")
