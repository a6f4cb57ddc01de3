"""reporting: a visit for each cancelled calendar appointment

Revision ID: reporting_0002
Revises: reporting_0001
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "reporting_0002"
down_revision: str | Sequence[str] | None = "reporting_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


FIGURES = [
    "local_date",
    "provider_id",
    "invite_kind",
    "outcome",
    "local_hour",
    "local_weekday",
    "copay_status",
    "copay_method",
    "copay_cents",
    "session_seconds",
    "waited_seconds",
]


def upgrade() -> None:
    with op.batch_alter_table("reporting_visit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("appointment_id", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint("uq_reporting_visit_appointment_id", ["appointment_id"])
        # The covering index carries appointment_id too: left-before-seen leaves calendar
        # cancellations out and must still read the index alone.
        batch_op.drop_index("ix_reporting_visit_figures")
        batch_op.create_index("ix_reporting_visit_figures", [*FIGURES, "appointment_id"])


def downgrade() -> None:
    with op.batch_alter_table("reporting_visit", schema=None) as batch_op:
        batch_op.drop_index("ix_reporting_visit_figures")
        batch_op.create_index("ix_reporting_visit_figures", FIGURES)
        batch_op.drop_constraint("uq_reporting_visit_appointment_id", type_="unique")
        batch_op.drop_column("appointment_id")
