"""What the Consent plugin stores.

- ``ConsentFormVersion``: the consent form's text, one immutable row per version.
- ``ConsentRequest``: a form sent to a client's portal (one portal invite each).
- ``ConsentRecord``: a decision (verbal or digital, accepted or declined). Immutable: the
  application never updates or deletes one, and the database refuses to (triggers).
- ``MessageTemplate``: the texts of the messages sent to clients, edited by the practice.
- ``SessionLink``: a telehealth session link sent to a client, and what became of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core.api import Client, Model

KINDS = ("verbal", "digital")
DECISIONS = ("accepted", "declined")
SIGNATURE_KINDS = ("drawn", "typed")
CHANNELS = ("sms", "email")
PURPOSES = {
    "consent_request": "Consent form sent to the portal",
    "session_link": "Telehealth session link",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ImmutableRecordError(RuntimeError):
    """Raised when the application tries to change or delete an immutable row."""


class ConsentFormVersion(Model):
    __tablename__ = "consent_form_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    body_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(100))

    def __repr__(self) -> str:
        return f"Version {self.version}: {self.title}"


class ConsentRequest(Model):
    __tablename__ = "consent_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("bo_client.id"), nullable=False, index=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), nullable=False, index=True)
    invite_id: Mapped[int] = mapped_column(
        ForeignKey("bo_patient_invite.id"), nullable=False, unique=True
    )
    reference: Mapped[str | None] = mapped_column(String(100), index=True)
    form_version: Mapped[int] = mapped_column(Integer, nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("bo_outbound_message.id"))
    message_status: Mapped[str | None] = mapped_column(String(20))
    # The calendar's start ticket, so the clinician's notification opens the session screen.
    ticket: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    client: Mapped[Client] = relationship(Client)
    clinician: Mapped[User] = relationship(User)


class ConsentRecord(Model):
    __tablename__ = "consent_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("bo_client.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # verbal | digital
    decision: Mapped[str] = mapped_column(String(10), nullable=False)  # accepted | declined
    form_version: Mapped[int] = mapped_column(Integer, nullable=False)
    form_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    signature_kind: Mapped[str | None] = mapped_column(String(10))  # drawn | typed
    signature: Mapped[str | None] = mapped_column(Text)  # PNG data URL, or the typed name
    # Verbal: the clinician who took it. Digital: the clinician who sent the form.
    clinician_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("consent_request.id"), unique=True)
    reference: Mapped[str | None] = mapped_column(String(100), index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    valid_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    client: Mapped[Client] = relationship(Client)
    clinician: Mapped[User | None] = relationship(User)

    def is_valid(self, now: dt.datetime | None = None) -> bool:
        moment = now or utcnow()
        return (
            self.decision == "accepted"
            and self.valid_until is not None
            and self.valid_until > moment
        )


class MessageTemplate(Model):
    __tablename__ = "consent_message_template"
    __table_args__ = (UniqueConstraint("purpose", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(30), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(100))

    @property
    def purpose_label(self) -> str:
        return PURPOSES.get(self.purpose, self.purpose)

    @property
    def channel_label(self) -> str:
        return "SMS" if self.channel == "sms" else "Email"

    def __repr__(self) -> str:
        return f"{self.purpose_label} ({self.channel_label})"


class SessionLink(Model):
    __tablename__ = "consent_session_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("bo_client.id"), nullable=False, index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    reference: Mapped[str | None] = mapped_column(String(100), index=True)
    invite_id: Mapped[int] = mapped_column(ForeignKey("bo_patient_invite.id"), nullable=False)
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consent_record.id"))
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("bo_outbound_message.id"))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    sent_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    client: Mapped[Client] = relationship(Client)


IMMUTABLE = (ConsentRecord, ConsentFormVersion)


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, context: Any, instances: Any) -> None:
    """The application-side half of immutability (the database triggers are the other)."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, IMMUTABLE) and (
            obj in session.deleted or session.is_modified(obj, include_collections=False)
        ):
            raise ImmutableRecordError(
                f"{type(obj).__name__} {getattr(obj, 'id', '?')} is immutable: "
                "record a new decision instead"
            )
