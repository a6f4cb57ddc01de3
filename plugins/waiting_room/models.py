"""What the waiting room stores. The database is the source of truth; sockets only notify.

``WaitingEntry`` is one patient's visit to the waiting room, from arrival to the end of the
visit (admitted and seen, left, removed, no-show). Its ``live_key`` is set while the visit
is live and cleared when it ends; a unique constraint on it makes "one invite, one live
entry" hold even when two requests race.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.api import Model

#: The visit is going on: the patient waits, or was admitted into the session.
WAITING = "waiting"
ADMITTED = "admitted"
#: The visit is over.
LEFT = "left"
REMOVED = "removed"
NO_SHOW = "no_show"
COMPLETED = "completed"
LIVE_STATUSES = (WAITING, ADMITTED)
ENDED_STATUSES = (LEFT, REMOVED, NO_SHOW, COMPLETED)

COPAY_STATUSES = ("not_required", "due", "collected")
#: How a collected copay was paid; told in ``patient.copay_updated``, not stored here.
COPAY_METHODS = ("card", "cash", "check", "other")
CONSENT_STATUSES = ("unknown", "recorded", "declined")
DEVICE_STATUSES = ("pending", "ok", "warning", "failed", "skipped")
AVAILABILITIES = ("available", "busy", "running_late", "away")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class WaitingEntry(Model):
    """One patient's visit to the waiting room."""

    __tablename__ = "waiting_room_entry"
    __table_args__ = (
        Index("ix_waiting_room_entry_order", "arrived_at", "id"),
        # A patient's place is a COUNT of the entries ahead: a range of these indexes,
        # never a visit to the table.
        Index("ix_waiting_room_entry_line", "status", "arrived_at", "id"),
        Index("ix_waiting_room_entry_provider_line", "status", "provider_id", "arrived_at", "id"),
        UniqueConstraint("live_key", name="uq_waiting_room_entry_live_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=WAITING, index=True)
    # "invite:<id>" while the visit is live, NULL once it ended: at most one live entry per
    # invite, enforced by the database.
    live_key: Mapped[str | None] = mapped_column(String(64))
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("bo_patient_invite.id"), index=True)
    invite_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    external_code: Mapped[str | None] = mapped_column(String(100))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("bo_client.id"), index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), index=True)

    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    # not_checked | matched | mismatch | unverified (asked, but no chart to compare with)
    identity: Mapped[str] = mapped_column(String(20), nullable=False, default="not_checked")
    appointment_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    arrived_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # Restarts when the patient is sent back or transferred; the order stays by arrival.
    waiting_since: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    admitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    first_admitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    admitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    left_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    # For reporting: arrival to first admission, or to the end of a visit never admitted.
    waited_seconds: Mapped[int | None] = mapped_column(Integer)

    transferred_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    transferred_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    copay_status: Mapped[str] = mapped_column(String(20), nullable=False, default="not_required")
    copay_cents: Mapped[int | None] = mapped_column(Integer)
    copay_collected_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    copay_collected_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))

    consent_status: Mapped[str] = mapped_column(String(20), nullable=False, default="unknown")
    consent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    device_status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    device_details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    device_checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    # Presence: the patient's page checks in every few seconds; NULL means never seen
    # (e.g. demo rows), which the grace period leaves alone.
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    disconnected_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    provider_alerted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    practice_alerted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    # The waiting room's version when this entry last changed.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    def __repr__(self) -> str:
        return f"<WaitingEntry {self.id} {self.status}>"


class WaitingDevice(Model):
    """A patient page (its token's ``sub``) that holds an entry: pushes go to each of them,
    through the host's ``patient:<sub>`` rooms. A second device with the same invite joins
    the same entry, so an entry may have several."""

    __tablename__ = "waiting_room_device"

    sub: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("waiting_room_entry.id"), nullable=False, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class WaitingSocket(Model):
    """A live Socket.IO connection of a patient page. When an entry's last one goes, the
    patient shows as away at once (the grace period starts). ``seen_at`` moves with the
    page's heartbeats, so the row of a worker that died without a word soon stops counting."""

    __tablename__ = "waiting_room_socket"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("waiting_room_entry.id"), nullable=False, index=True
    )
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class WaitingMessage(Model):
    """A chat message between the practice and a waiting patient; both sides see it."""

    __tablename__ = "waiting_room_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("waiting_room_entry.id"), nullable=False, index=True
    )
    sender: Mapped[str] = mapped_column(String(10), nullable=False)  # staff | patient
    author_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    author_name: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class WaitingRoomState(Model):
    """One row: the waiting room's version, bumped in the transaction of every change."""

    __tablename__ = "waiting_room_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class StaffPreference(Model):
    """Per staff member: arrival sound muted, availability shown to patients, last seen."""

    __tablename__ = "waiting_room_staff_pref"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True
    )
    muted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    availability: Mapped[str] = mapped_column(String(20), nullable=False, default="available")
    availability_note: Mapped[str | None] = mapped_column(String(200))
    seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ClientConsent(Model):
    """The latest consent decision per client, from the consent domain events."""

    __tablename__ = "waiting_room_client_consent"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("bo_client.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
