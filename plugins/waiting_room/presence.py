"""Presence kept in memory and written in batches.

A patient page checks in every few seconds and a staff page every few tens of seconds;
writing each of those would cost a commit per heartbeat. Here a check-in of someone
already known to be present is only noted in memory; the notes are written in one
statement per table at most every ``WAITING_ROOM_PRESENCE_FLUSH`` seconds, by the
server's housekeeping task in chunks of ``CHUNK`` rows, each its own short commit, with a
yield between them: no heartbeat waits behind a batch. A worker without housekeeping (a
test client, a stalled task) has the next event write the batch once it is ``OVERDUE``
intervals late. The grace period and "away" are measured in tens of seconds, so a few
seconds of lag in the database changes nothing.
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
#: Rows per statement and commit when housekeeping writes the batch.
CHUNK = 200
#: Intervals after which a request writes the batch itself (housekeeping is not running).
OVERDUE = 3.0


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

    def due(self, intervals: float = 1.0) -> bool:
        waited = time.monotonic() - self._flushed_at
        return bool(self._pending) and waited >= self.interval * intervals

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


TABLES = (
    (WaitingEntry.__table__, "id", "last_seen_at", "entries"),
    (WaitingSocket.__table__, "sid", "seen_at", "sockets"),
    (StaffPreference.__table__, "user_id", "seen_at", "staff"),
)


def flush_overdue() -> bool:
    """In a request: write the noted check-ins only when housekeeping has not for
    ``OVERDUE`` intervals; ``True`` if it did. The statements join the current
    transaction: the caller commits."""
    presence = buffer()
    if not presence.due(OVERDUE):
        return False
    pending = presence.take()
    session = db_session()
    for table, key, column, attribute in TABLES:
        _write(session, table, key, column, getattr(pending, attribute))
    return bool(pending)


def flush_in_chunks() -> int:
    """Housekeeping: write the due check-ins, ``CHUNK`` rows a commit, yielding to the
    worker's other handlers between chunks; the rows written."""
    presence = buffer()
    if not presence.due():
        return 0
    pending = presence.take()
    session = db_session()
    written = 0
    for table, key, column, attribute in TABLES:
        values = list(getattr(pending, attribute).items())
        for start in range(0, len(values), CHUNK):
            _write(session, table, key, column, dict(values[start : start + CHUNK]))
            session.commit()
            written += len(values[start : start + CHUNK])
            time.sleep(0)  # green under eventlet and gevent: let heartbeats in
    return written


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
