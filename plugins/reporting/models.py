"""What Reporting stores: one visit record per patient visit, built only from domain events.

A visit is a waiting-room entry (``entry_id``), a video session that had none
(``session_id``), or a calendar appointment that was cancelled (``appointment_id``; it
"arrived" at the time it was booked for). Times are naive UTC like the rest of the host;
``local_date``, ``local_hour`` and ``local_weekday`` are the arrival's in the practice's time
zone, written with the visit, so that every report groups and filters on indexed columns.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.api import Model

#: Attendance outcomes. ``open`` is a visit still going on.
OPEN = "open"
ATTENDED = "attended"
NO_SHOW = "no_show"
LEFT_BEFORE_SEEN = "left_before_seen"
CANCELLED = "cancelled"
OUTCOMES = (ATTENDED, NO_SHOW, LEFT_BEFORE_SEEN, CANCELLED, OPEN)
OUTCOME_LABELS = {
    ATTENDED: "Attended",
    NO_SHOW: "No-show",
    LEFT_BEFORE_SEEN: "Left before seen",
    CANCELLED: "Cancelled",
    OPEN: "In progress",
}
INVITE_LABELS = {
    "quickvite": "QuickVite",
    "appointment": "Appointment",
    "external": "External link",
    "guest": "Guest",
    "portal": "Patient portal",
    "direct": "Started by the clinician",
}
COPAY_LABELS = {
    "not_required": "Not required",
    "due": "Due, not collected",
    "collected": "Collected",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Visit(Model):
    __tablename__ = "reporting_visit"
    __table_args__ = (
        # Covers every figure: a report reads this index alone, never the table's rows.
        Index(
            "ix_reporting_visit_figures",
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
            "appointment_id",
        ),
        Index("ix_reporting_visit_arrived", "local_date", "arrived_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    session_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    appointment_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    client_id: Mapped[int | None] = mapped_column(Integer, index=True)
    provider_id: Mapped[int | None] = mapped_column(Integer)
    invite_id: Mapped[int | None] = mapped_column(Integer, index=True)
    invite_kind: Mapped[str] = mapped_column(String(20), nullable=False)

    arrived_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    local_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    local_hour: Mapped[int] = mapped_column(Integer, nullable=False)
    local_weekday: Mapped[int] = mapped_column(Integer, nullable=False)  # Monday is 0

    outcome: Mapped[str] = mapped_column(String(20), nullable=False, default=OPEN)
    # How the visit ended, as told: left | removed | no_show | completed | cancelled (the
    # appointment; NULL: going on).
    ended_how: Mapped[str | None] = mapped_column(String(20))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    first_admitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Arrival to first admission; NULL for a visit never admitted.
    waited_seconds: Mapped[int | None] = mapped_column(Integer)
    admissions: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sent_back: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    transfers: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    session_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    session_ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    session_seconds: Mapped[int | None] = mapped_column(Integer)

    copay_status: Mapped[str] = mapped_column(String(20), nullable=False, default="not_required")
    copay_cents: Mapped[int | None] = mapped_column(Integer)
    copay_method: Mapped[str | None] = mapped_column(String(20))
    consent_status: Mapped[str] = mapped_column(String(20), nullable=False, default="unknown")
    invite_sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    invite_channel: Mapped[str | None] = mapped_column(String(10))

    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class SentInvite(Model):
    """An invite that went out (``consent.session_link_sent``, ``invite.sent``), kept until
    its visit comes. ``channel``: sms, email, or sms+email for a QuickVite sent both ways."""

    __tablename__ = "reporting_sent_invite"

    invite_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
