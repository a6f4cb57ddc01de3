"""What the Video plugin stores: sessions, who took part, and the session's text chat.

A session's ``reference`` says where it came from: ``"waiting_room:<entry id>"`` for a
patient admitted from the waiting room, ``"adhoc"`` for one a clinician started by hand.
Times are naive UTC, like the rest of the host.
"""

from __future__ import annotations

import datetime as dt

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.api import Client, Model

OPEN = "open"
LIVE = "live"
ENDED = "ended"
STATUSES = (OPEN, LIVE, ENDED)

STAFF = "staff"
PATIENT = "patient"
GUEST = "guest"
KINDS = (STAFF, PATIENT, GUEST)

ADHOC = "adhoc"
WAITING_ROOM_PREFIX = "waiting_room:"
MAX_CHAT = 1000
KEY_LENGTH = 80


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def waiting_room_reference(entry_id: int) -> str:
    return f"{WAITING_ROOM_PREFIX}{entry_id}"


def entry_id_of(reference: str | None) -> int | None:
    """The waiting-room entry id of a ``waiting_room:<id>`` reference, else ``None``."""
    if not reference or not reference.startswith(WAITING_ROOM_PREFIX):
        return None
    tail = reference[len(WAITING_ROOM_PREFIX) :]
    return int(tail) if tail.isdigit() else None


class VideoSession(Model):
    __tablename__ = "video_session"
    __table_args__ = (Index("ix_video_session_reference_status", "reference", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), nullable=False, default=ADHOC)
    provider_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), nullable=False, index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("bo_client.id"), index=True)
    patient_sub: Mapped[str | None] = mapped_column(String(64))
    # Where a patient sent back from the call returns to (their waiting-room page), if known.
    return_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)

    provider: Mapped[User] = relationship(User, foreign_keys=[provider_id])
    client: Mapped[Client | None] = relationship(Client, foreign_keys=[client_id])
    participants: Mapped[list[VideoParticipant]] = relationship(
        "VideoParticipant",
        back_populates="session",
        order_by="VideoParticipant.id",
        cascade="all, delete-orphan",
    )

    @property
    def entry_id(self) -> int | None:
        return entry_id_of(self.reference)

    @property
    def client_name(self) -> str:
        """The chart's name, else the name the patient gave (a waiting-room visitor)."""
        if self.client is not None:
            return self.client.full_name
        patient = next((p for p in self.participants if p.kind == PATIENT), None)
        return patient.display_name if patient is not None else ""

    @property
    def participant_names(self) -> str:
        return ", ".join(f"{p.display_name} ({p.kind})" for p in self.participants)

    @property
    def duration_text(self) -> str:
        if self.duration_seconds is None:
            return ""
        minutes, seconds = divmod(int(self.duration_seconds), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"

    def __repr__(self) -> str:
        return f"Video session {self.id}"


class VideoParticipant(Model):
    """Someone who joined a session. One row per person per session: a re-join reuses it."""

    __tablename__ = "video_participant"
    __table_args__ = (UniqueConstraint("session_id", "key", name="uq_video_participant_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("video_session.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # "staff:<user id>", "patient:<token sub>" or "guest:<token sub>": whom to signal.
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), index=True)
    sub: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    joined_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    left_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The socket of their latest join: when it drops they are gone, unless they joined
    # again meanwhile (another window, or a reconnect faster than the server noticed).
    sid: Mapped[str | None] = mapped_column(String(64), index=True)

    session: Mapped[VideoSession] = relationship(VideoSession, back_populates="participants")

    @property
    def present(self) -> bool:
        return self.left_at is None


class VideoChatLine(Model):
    __tablename__ = "video_chat_line"
    __table_args__ = (Index("ix_video_chat_line_session_id_id", "session_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("video_session.id", ondelete="CASCADE"), nullable=False
    )
    sender_name: Mapped[str] = mapped_column(String(200), nullable=False)
    sender_kind: Mapped[str] = mapped_column(String(10), nullable=False)
    body: Mapped[str] = mapped_column(String(MAX_CHAT), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
