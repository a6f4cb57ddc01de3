"""The rules of Staff Chat: who may see which channel, sending, reading, unread counts.

The Socket.IO handlers (``events.py``) are thin wrappers around these functions. Message
bodies may hold PHI: they go to the database and to the channel's members, never to a log
or the audit trail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.api import SocketError, audit, db_session, notify, staff_members
from plugins.staff_chat.models import (
    PRACTICE,
    ChatMessage,
    ChatReadMarker,
    dm_key,
    dm_members,
)

SOURCE = "staff_chat"
CHAT_PERMISSION = ("can_chat", "StaffChat")
MESSAGE_EVENT = "staff_chat.message"
READ_EVENT = "staff_chat.read"


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    active: bool


def people() -> dict[int, Person]:
    """Every staff account by id; ``active`` means they may log in now."""
    return {m.id: Person(m.id, m.name or m.username, m.can_log_in) for m in staff_members()}


def _iso(moment: dt.datetime) -> str:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000).isoformat() + "Z"


def serialise(message: ChatMessage, sender: Person | None) -> dict[str, Any]:
    return {
        "id": message.id,
        "channel": message.channel,
        "sender_id": message.sender_id,
        "sender_name": sender.name if sender else "Former user",
        "body": message.body,
        "created_at": _iso(message.created_at),
    }


# --- membership ---------------------------------------------------------------------


def require_member(channel: str, user_id: int) -> tuple[int, int] | None:
    """Refuse a DM the user is not part of; return the DM's pair (``None``: practice)."""
    if channel == PRACTICE:
        return None
    pair = dm_members(channel)
    if pair is None or user_id not in pair:
        raise SocketError("forbidden", "you are not part of this conversation")
    return pair


def _recipient(user_id: int, other_id: int) -> Person:
    if other_id == user_id:
        raise SocketError("invalid_recipient", "you cannot send a direct message to yourself")
    other = people().get(other_id)
    if other is None or not other.active:
        raise SocketError("unknown_recipient", "there is no active staff member with that id")
    return other


# --- reading --------------------------------------------------------------------------


def _last_read(user_id: int, channels: list[str]) -> dict[str, int]:
    query = select(ChatReadMarker.channel, ChatReadMarker.last_read_id).where(
        ChatReadMarker.user_id == user_id, ChatReadMarker.channel.in_(channels)
    )
    return {row.channel: row.last_read_id for row in db_session().execute(query)}


def _unread(user_id: int, channels: list[str]) -> dict[str, int]:
    """Messages from others after the user's read marker, per channel."""
    marker = (
        select(ChatReadMarker.channel, ChatReadMarker.last_read_id)
        .where(ChatReadMarker.user_id == user_id)
        .subquery()
    )
    query = (
        select(ChatMessage.channel, func.count(ChatMessage.id))
        .outerjoin(marker, marker.c.channel == ChatMessage.channel)
        .where(
            ChatMessage.channel.in_(channels),
            ChatMessage.sender_id != user_id,
            ChatMessage.id > func.coalesce(marker.c.last_read_id, 0),
        )
        .group_by(ChatMessage.channel)
    )
    return {channel: int(count) for channel, count in db_session().execute(query)}


def _latest(channels: list[str]) -> dict[str, ChatMessage]:
    newest = (
        select(func.max(ChatMessage.id))
        .where(ChatMessage.channel.in_(channels))
        .group_by(ChatMessage.channel)
    )
    rows = db_session().scalars(select(ChatMessage).where(ChatMessage.id.in_(newest)))
    return {message.channel: message for message in rows}


def unread_in(user_id: int, channel: str) -> int:
    return _unread(user_id, [channel]).get(channel, 0)


def channels_of(user_id: int) -> dict[str, Any]:
    """The snapshot a page fetches on (re)connect: every channel with unread and latest.

    The practice channel first, then a DM with every other active user (and with former
    users when there is history), the most recent conversation first.
    """
    everyone = people()
    others = [p for p in everyone.values() if p.id != user_id]
    keys = [PRACTICE, *(dm_key(user_id, p.id) for p in others)]
    unread, latest, read = _unread(user_id, keys), _latest(keys), _last_read(user_id, keys)

    def entry(key: str, person: Person | None) -> dict[str, Any]:
        last = latest.get(key)
        return {
            "key": key,
            "kind": "practice" if person is None else "dm",
            "title": "Practice channel" if person is None else person.name,
            "user_id": None if person is None else person.id,
            "active": True if person is None else person.active,
            "unread": unread.get(key, 0),
            "last_read_id": read.get(key, 0),
            "last_message": serialise(last, everyone.get(last.sender_id)) if last else None,
        }

    dms = [
        entry(dm_key(user_id, p.id), p)
        for p in others
        if p.active or dm_key(user_id, p.id) in latest
    ]
    dms.sort(key=lambda c: c["title"].lower())
    dms.sort(key=lambda c: c["last_message"]["id"] if c["last_message"] else 0, reverse=True)
    channels = [entry(PRACTICE, None), *dms]
    me = everyone.get(user_id)
    return {
        "me": {"id": user_id, "name": me.name if me else ""},
        "channels": channels,
        "unread_total": sum(c["unread"] for c in channels),
    }


def history(user_id: int, channel: str, before_id: int | None, limit: int) -> dict[str, Any]:
    """Up to ``limit`` messages before ``before_id`` (default: the newest), oldest first."""
    require_member(channel, user_id)
    query = select(ChatMessage).where(ChatMessage.channel == channel)
    if before_id is not None:
        query = query.where(ChatMessage.id < before_id)
    found = list(db_session().scalars(query.order_by(ChatMessage.id.desc()).limit(limit + 1)))
    everyone = people()
    page = [serialise(m, everyone.get(m.sender_id)) for m in reversed(found[:limit])]
    return {
        "channel": channel,
        "messages": page,
        "has_more": len(found) > limit,
        "last_read_id": _last_read(user_id, [channel]).get(channel, 0),
        "unread": unread_in(user_id, channel),
    }


# --- writing --------------------------------------------------------------------------


def _advance_marker(user_id: int, channel: str, message_id: int) -> int | None:
    """Move the user's read marker forward to ``message_id`` (never back); the caller
    commits. The marker's position, or ``None`` when concurrent writers kept colliding."""
    session = db_session()
    for _attempt in range(2):  # a concurrent first marker for the same channel wins once
        try:
            # A savepoint: a collision undoes the marker only, not the caller's message.
            with session.begin_nested():
                marker = _moved_marker(user_id, channel, message_id)
        except IntegrityError:
            continue
        return marker.last_read_id
    return None


def _moved_marker(user_id: int, channel: str, message_id: int) -> ChatReadMarker:
    session = db_session()
    marker = session.get(ChatReadMarker, (user_id, channel))
    if marker is None:
        marker = ChatReadMarker(user_id=user_id, channel=channel, last_read_id=0)
        session.add(marker)
    marker.last_read_id = max(marker.last_read_id or 0, message_id)
    return marker


def mark_read(user_id: int, channel: str, up_to_id: int | None) -> dict[str, Any]:
    """Mark ``channel`` read up to ``up_to_id`` (default: everything), and tell the
    user's open pages so their unread counts follow."""
    require_member(channel, user_id)
    newest = db_session().scalar(
        select(func.max(ChatMessage.id)).where(ChatMessage.channel == channel)
    )
    newest = newest or 0
    target = newest if up_to_id is None else min(up_to_id, newest)
    last_read = _advance_marker(user_id, channel, target)
    if last_read is None:
        raise SocketError("conflict", "the read marker changed meanwhile; try again")
    db_session().commit()
    state = {"channel": channel, "last_read_id": last_read, "unread": unread_in(user_id, channel)}
    notify(READ_EVENT, state, room=f"user:{user_id}")
    return state


def send(user_id: int, body: str, channel: str | None, to_user_id: int | None) -> dict[str, Any]:
    """Store a message, audit it (without its body) and push it to the channel's members."""
    if to_user_id is not None:
        _recipient(user_id, to_user_id)
        channel = dm_key(user_id, to_user_id)
    elif channel is None:
        raise SocketError("invalid", "give either channel or to_user_id")
    pair = require_member(channel, user_id)
    if pair is not None and to_user_id is None:
        _recipient(user_id, pair[1] if pair[0] == user_id else pair[0])
    session = db_session()
    message = ChatMessage(channel=channel, sender_id=user_id, body=body.strip())
    session.add(message)
    session.flush()  # the id, so the message and its audit entry commit together
    audit("staff_chat.sent", target=channel, details={"message_id": message.id}, source=SOURCE)
    _advance_marker(user_id, channel, message.id)  # what you wrote, you have read
    session.commit()
    data = serialise(message, people().get(user_id))
    if pair is None:
        notify(MESSAGE_EVENT, data, permission=CHAT_PERMISSION)  # only staff who may chat
    else:
        for member in pair:
            notify(MESSAGE_EVENT, data, room=f"user:{member}")
    return data


# --- demo -----------------------------------------------------------------------------

DEMO_PRACTICE = (
    ("practiceadmin", "Good morning! The front door code changes on Monday; ask me for it."),
    ("clinician1", "I'm running about ten minutes behind this morning."),
    ("frontdesk", "Thanks, I'll let the 9:00 know when they check in."),
    ("clinician2", "Reminder: team meeting at 12:30 in the big room and on video."),
)
DEMO_DM = ("clinician1", "frontdesk", "Could you resend the QuickVite for my 2:00? Thanks!")


def seed_demo() -> None:
    """A few practice-channel messages and one direct message, once."""
    session = db_session()
    if session.scalar(select(func.count(ChatMessage.id))):
        return
    ids = {m.username: m.id for m in staff_members()}
    start = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=45)
    script = [(who, PRACTICE, text) for who, text in DEMO_PRACTICE]
    sender, recipient, text = DEMO_DM
    if sender in ids and recipient in ids:
        script.append((sender, dm_key(ids[sender], ids[recipient]), text))
    for minute, (who, channel, text) in enumerate(script):
        if who in ids:
            moment = start + dt.timedelta(minutes=5 * minute)
            session.add(
                ChatMessage(channel=channel, sender_id=ids[who], body=text, created_at=moment)
            )
    session.commit()
