"""What the Upload Site stores.

- ``UploadedFile``: one document a patient or a staff member uploaded for a client. The
  bytes live in the storage backend under ``storage_key`` (random, never the uploader's
  name); the row keeps the SHA-256, the size, the type decided from the content, the
  shared unread state and the soft deletion.
- ``UploadLink``: a one-time upload link sent to a client by email or SMS. Only the
  SHA-256 of the token's random subject is kept.
"""

from __future__ import annotations

import datetime as dt

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.api import Client, Model

VIA = ("portal", "link", "staff")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class UploadLink(Model):
    __tablename__ = "upload_site_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("bo_client.id"), nullable=False, index=True)
    subject_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)  # email | sms
    recipient: Mapped[str] = mapped_column(String(200), nullable=False)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("bo_outbound_message.id"))
    message_status: Mapped[str | None] = mapped_column(String(20))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    client: Mapped[Client] = relationship(Client)
    created_by: Mapped[User | None] = relationship(User)

    def is_open(self, now: dt.datetime | None = None) -> bool:
        moment = now or utcnow()
        return self.used_at is None and self.revoked_at is None and self.expires_at > moment


class UploadedFile(Model):
    __tablename__ = "upload_site_file"
    __table_args__ = (Index("ix_upload_site_file_client_created", "client_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("bo_client.id"), nullable=False)
    storage_backend: Mapped[str] = mapped_column(String(10), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    extension: Mapped[str] = mapped_column(String(10), nullable=False)
    original_name: Mapped[str] = mapped_column(String(255), nullable=False)
    note: Mapped[str | None] = mapped_column(String(500))
    via: Mapped[str] = mapped_column(String(10), nullable=False)  # portal | link | staff
    link_id: Mapped[int | None] = mapped_column(ForeignKey("upload_site_link.id"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    read_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))

    client: Mapped[Client] = relationship(Client)
    uploaded_by: Mapped[User | None] = relationship(User, foreign_keys=[uploaded_by_id])

    @property
    def unread(self) -> bool:
        return self.read_at is None

    @property
    def download_name(self) -> str:
        """The uploader's name, ending in the extension of what the file really is."""
        stem = self.original_name
        if stem.lower().endswith("." + self.extension):
            return stem
        return f"{stem}.{self.extension}"
