"""Presence kept in memory and written in batches.

A patient page checks in every few seconds and a staff page every few tens of seconds;
writing each of those would cost a commit per heartbeat. Here a check-in of someone
already known to be present is only noted in memory; the notes are written in one
statement per table at most every ``WAITING_ROOM_PRESENCE_FLUSH`` seconds (by the next
event that comes along, so no background task is needed). The grace period and "away"
are measured in tens of seconds, so a few seconds of lag in the database changes nothing.
Changes that people see (away → present, a clinician coming online) are still written at
once by the caller.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, update

from core.api import db_session
from plugins.waiting_room.models import StaffPreference, WaitingEntry, WaitingSocket

EXTENSION = "waiting_room.presence"


@dataclass
class Pending:
    entries: dict[int, dt.datetime] = field(default_factory=dict)
    sockets: dict[str, dt.datetime] = field(default_factory=dict)
    staff: dict[int, dt.datetime] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.entries or self.sockets or self.staff)


class PresenceBuffer:
    """This worker's unwritten check-ins."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._pending = Pending()
        self._flushed_at = time.monotonic()
        self._lock = threading.Lock()

    def note_patient(self, entry_id: int, sid: str | None, now: dt.datetime) -> None:
        with self._lock:
            self._pending.entries[entry_id] = now
            if sid:
                self._pending.sockets[sid] = now

    def note_staff(self, user_id: int, now: dt.datetime) -> None:
        with self._lock:
            self._pending.staff[user_id] = now

    def forget_socket(self, sid: str) -> None:
        with self._lock:
            self._pending.sockets.pop(sid, None)

    def due(self) -> bool:
        return bool(self._pending) and time.monotonic() - self._flushed_at >= self.interval

    def take(self) -> Pending:
        with self._lock:
            taken, self._pending = self._pending, Pending()
            self._flushed_at = time.monotonic()
        return taken


def buffer() -> PresenceBuffer:
    extensions = current_app.extensions
    found: PresenceBuffer | None = extensions.get(EXTENSION)
    if found is None:
        found = PresenceBuffer(float(current_app.config["WAITING_ROOM_PRESENCE_FLUSH"]))
        extensions[EXTENSION] = found
    return found


def flush() -> bool:
    """Write the noted check-ins when they are due; ``True`` if it did. The statements join
    the current transaction: the caller commits."""
    presence = buffer()
    if not presence.due():
        return False
    pending = presence.take()
    if not pending:
        return False
    session = db_session()
    _write(session, WaitingEntry.__table__, "id", "last_seen_at", pending.entries)
    _write(session, WaitingSocket.__table__, "sid", "seen_at", pending.sockets)
    _write(session, StaffPreference.__table__, "user_id", "seen_at", pending.staff)
    return True


def _write(
    session: Any, table: Any, key: str, column: str, values: Mapping[Any, dt.datetime]
) -> None:
    """One executemany UPDATE; rows deleted meanwhile simply match nothing."""
    if not values:
        return
    statement = (
        update(table).where(table.c[key] == bindparam("b_key")).values({column: bindparam("b_at")})
    )
    session.execute(statement, [{"b_key": k, "b_at": at} for k, at in values.items()])
