"""What the Patient Portal stores.

- ``PortalCode``: a one-time sign-in code sent by email or SMS (only hashes are kept).
- ``PortalSession``: a patient's portal sign-in, separate from staff logins (the cookie holds
  a random token; only its hash is kept).
- ``PortalAccess``: per client, the moment staff revoked access: sessions and signed links
  issued before it no longer work.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.api import Client, Model

CHANNELS = ("email", "sms")
METHODS = ("email", "sms", "link")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class PortalCode(Model):
    __tablename__ = "portal_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("bo_client.id"), nullable=False, index=True)
    # The browser keeps the challenge (a cookie); the code travels by email or SMS.
    challenge_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message_status: Mapped[str | None] = mapped_column(String(20))
    ip: Mapped[str | None] = mapped_column(String(64))


class PortalSession(Model):
    __tablename__ = "portal_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("bo_client.id"), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(20))  # signed_out | revoked
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    client: Mapped[Client] = relationship(Client)


class PortalAccess(Model):
    __tablename__ = "portal_access"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("bo_client.id", ondelete="CASCADE"), primary_key=True
    )
    revoked_before: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(100))
