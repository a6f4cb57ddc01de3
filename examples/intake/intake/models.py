"""What Intake stores: one questionnaire per waiting-room visit."""

from __future__ import annotations

import datetime as dt

from core.api import Model, db_session
from flask import url_for
from markupsafe import Markup
from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

OPEN = "open"
COMPLETED = "completed"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class IntakeForm(Model):
    __tablename__ = "intake_form"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The waiting-room visit (``entry_id`` of ``patient.arrived``): one form per visit.
    entry_id: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("bo_client.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=OPEN, index=True)
    answers: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now, nullable=False)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))

    def __repr__(self) -> str:
        return f"Intake for visit {self.entry_id}"

    def answer(self) -> Markup:
        """The list's link to the answer page."""
        label = "Answer" if self.status == OPEN else "Answers"
        href = url_for("IntakeAnswerView.form", pk=self.id)
        return Markup('<a class="btn btn-xs btn-primary" href="{}">{}</a>').format(href, label)


def open_count() -> int:
    query = select(func.count()).select_from(IntakeForm).where(IntakeForm.status == OPEN)
    return int(db_session().scalar(query) or 0)
