"""What Staff Chat stores: messages per channel, and how far each user has read each channel.

A channel key is ``"practice"`` (everyone on staff) or ``"dm:<low id>-<high id>"``, the
direct conversation of two users (see :func:`dm_key`).
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.api import Model

PRACTICE = "practice"
MAX_BODY = 2000
CHANNEL_KEY_LENGTH = 32
_DM = re.compile(r"^dm:([1-9][0-9]{0,9})-([1-9][0-9]{0,9})$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def dm_key(a: int, b: int) -> str:
    """The one key of the direct conversation between users ``a`` and ``b``."""
    if a == b:
        raise ValueError("a direct conversation needs two different users")
    low, high = sorted((a, b))
    return f"dm:{low}-{high}"


def dm_members(channel: str) -> tuple[int, int] | None:
    """The two user ids of a canonical DM key (lower id first), else ``None``."""
    match = _DM.match(channel)
    if match is None:
        return None
    low, high = int(match.group(1)), int(match.group(2))
    return (low, high) if low < high else None


def is_channel_key(channel: str) -> bool:
    return channel == PRACTICE or dm_members(channel) is not None


class ChatMessage(Model):
    __tablename__ = "staff_chat_message"
    __table_args__ = (Index("ix_staff_chat_message_channel_id", "channel", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(CHANNEL_KEY_LENGTH), nullable=False)
    sender_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), nullable=False, index=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now, nullable=False)


class ChatReadMarker(Model):
    """The last message of ``channel`` that ``user_id`` has read (0: none)."""

    __tablename__ = "staff_chat_read_marker"

    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(CHANNEL_KEY_LENGTH), primary_key=True)
    last_read_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime, default=_now, onupdate=_now, nullable=False
    )
