"""Socket.IO events of Staff Chat, all on the ``staff`` namespace.

Pushed to clients (see ``chat.py``): ``staff_chat.message`` (a new message: to the room
``staff`` for the practice channel, to ``user:<id>`` of both members for a DM) and
``staff_chat.read`` (to ``user:<id>`` when that user's read marker moved).
"""

from __future__ import annotations

from typing import Any

from core.api import SocketContext, SocketError, SocketEvent
from plugins.staff_chat import chat
from plugins.staff_chat.schemas import ChannelsSchema, HistorySchema, MarkReadSchema, SendSchema
from plugins.staff_chat.views import PERMISSION


def _user(context: SocketContext) -> int:
    if context.user_id is None:  # the staff namespace always has one; be explicit anyway
        raise SocketError("unauthorized", "sign in to use the staff chat")
    return context.user_id


def channels(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    """The snapshot: every channel of the user with its unread count and last message."""
    return chat.channels_of(_user(context))


def history(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return chat.history(_user(context), payload["channel"], payload["before_id"], payload["limit"])


def send(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return chat.send(
        _user(context), payload["body"], payload.get("channel"), payload.get("to_user_id")
    )


def mark_read(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return chat.mark_read(_user(context), payload["channel"], payload["up_to_id"])


EVENTS = [
    SocketEvent("staff_chat.channels", channels, ChannelsSchema, permission=PERMISSION),
    SocketEvent("staff_chat.history", history, HistorySchema, permission=PERMISSION),
    SocketEvent("staff_chat.send", send, SendSchema, permission=PERMISSION),
    SocketEvent("staff_chat.mark_read", mark_read, MarkReadSchema, permission=PERMISSION),
]
