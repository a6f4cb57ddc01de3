"""What the Calendar stores: appointments (single, recurring series and their detached
occurrences) and each clinician's secret iCalendar feed key."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.api import Client, Model

CONTACT_TYPES = ("In person", "Telehealth", "Phone")
CANCELLED = "Cancelled"
STATUSES = ("Scheduled", "Confirmed", "Checked-In", "Occurred", CANCELLED, "No-show")
#: Statuses in which a telehealth session may be started (with contact type Telehealth).
TELEHEALTH_STATUSES = ("Confirmed", "Checked-In", "Occurred")
#: Statuses that do not occupy the clinician's time (ignored by the overlap check).
FREE_STATUSES = (CANCELLED,)
RECURRENCES = {
    "none": "Does not repeat",
    "weekly": "Every week",
    "biweekly": "Every 2 weeks",
    "monthly": "Every month",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Appointment(Model):
    """One appointment, or the first of a recurring series.

    Times are naive UTC. A series (``recurrence`` other than ``none``) is expanded when
    read; an occurrence edited on its own becomes a row of its own (``series_id`` names
    the series, ``original_start`` the occurrence it replaces), which the expansion skips.
    """

    __tablename__ = "calendar_appointment"
    __table_args__ = (UniqueConstraint("series_id", "original_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("bo_client.id"), nullable=False, index=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), nullable=False, index=True)
    start_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True)
    end_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    contact_type: Mapped[str] = mapped_column(String(20), nullable=False, default="In person")
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="Scheduled")
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    recurrence: Mapped[str] = mapped_column(String(10), nullable=False, default="none")
    recurrence_count: Mapped[int | None] = mapped_column(Integer)
    recurrence_until: Mapped[dt.date | None] = mapped_column(Date)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("calendar_appointment.id"), index=True)
    original_start: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(100))
    updated_by: Mapped[str | None] = mapped_column(String(100))

    client: Mapped[Client] = relationship(Client)
    clinician: Mapped[User] = relationship(User)

    @property
    def is_series(self) -> bool:
        return self.recurrence != "none"

    def __repr__(self) -> str:
        return f"Appointment {self.id}"


class CalendarFeedKey(Model):
    """The secret that lets a calendar app subscribe to one clinician's feed.

    Only a hash is stored: the link is shown once, when it is made or replaced.
    """

    __tablename__ = "calendar_feed_key"

    clinician_id: Mapped[int] = mapped_column(
        ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True
    )
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
