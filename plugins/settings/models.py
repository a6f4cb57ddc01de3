"""Tables of the Settings plugin: the QuickVites staff sent."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.api import Model


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class QuickVite(Model):
    """One QuickVite: whom it went to, how, and what became of its invite link."""

    __tablename__ = "settings_quickvite"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invite_id: Mapped[int] = mapped_column(
        ForeignKey("bo_patient_invite.id"), nullable=False, unique=True
    )
    patient_name: Mapped[str] = mapped_column(String(120), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(200))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    sent_by: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[dt.datetime] = mapped_column(
        DateTime, default=utcnow, nullable=False, index=True
    )
    sms_message_id: Mapped[int | None] = mapped_column(ForeignKey("bo_outbound_message.id"))
    email_message_id: Mapped[int | None] = mapped_column(ForeignKey("bo_outbound_message.id"))
    arrived_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    replaced_by_id: Mapped[int | None] = mapped_column(Integer)
