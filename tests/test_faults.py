"""Faults: a worker killed with patients waiting, the message queue going away under two
workers. CI runs the short form; ``make soak`` the full one (``BACKOFFICE_SOAK=1``: 50
patients waiting instead of 10).

Each test starts what it breaks (its own workers, its own redis-server on a free port), so
the machine's services are never touched. Waits follow readiness with generous bounds;
nothing here fails on a time, only on something lost, an error or a worker that stays
stuck. The records that matter are counted before and after each fault.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import LiveServer, OwnRedis, live_login
from tests.realtime_helpers import Clients, database
from tests.waiting_room_helpers import check_in

CODE_PAGE = "/wait/demo-practice"
SOAK = os.environ.get("BACKOFFICE_SOAK", "") == "1"
WAITING = 50 if SOAK else 10
#: The records a fault must not lose (table: what it holds).
COUNTED = {
    "waiting_room_entry": "visits to the waiting room",
    "waiting_room_message": "waiting-room chat",
    "staff_chat_message": "staff chat",
    "consent_record": "consent records",
    "bo_audit_log": "audit rows",
}


def counts(database_url: str) -> dict[str, int]:
    with database(database_url) as engine, engine.connect() as connection:
        return {
            table: int(connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
            for table in COUNTED
        }


@pytest.mark.live
def test_a_killed_worker_comes_back_with_every_patient_in_line(
    live_server_factory: Callable[..., LiveServer], databases: Any, backend: str
) -> None:
    """kill -9 with patients waiting and a chat message just sent: after the restart
    every record is there, and the line is the same, in the same order."""
    url = databases.new(backend)
    server = live_server_factory(async_mode="eventlet", database_url=url)
    arrived_ids = [
        check_in(server.url, CODE_PAGE, name=f"Waiting {n}")["entry_id"] for n in range(WAITING)
    ]
    clients = Clients()
    try:
        desk = clients.staff(server.url, live_login(server.url, "frontdesk"))
        before_line = _line(desk)
        assert before_line[-WAITING:] == arrived_ids
        said = desk.call("waiting_room.message", {"entry_id": arrived_ids[0], "body": "Hello"})
        assert said["ok"], said
    finally:
        clients.close()
    before = counts(url)

    assert server.process is not None
    server.process.kill()
    server.process.wait(30)
    server.start()

    assert counts(url) == before
    clients = Clients()
    try:
        desk = clients.staff(server.url, live_login(server.url, "frontdesk"))
        assert _line(desk) == before_line
    finally:
        clients.close()


def _line(desk: Any) -> list[int]:
    """The waiting patients' ids in line order, from the dashboard's snapshot."""
    snapshot = desk.call("waiting_room.snapshot", {"scope": "all"})["data"]
    return [e["id"] for e in snapshot["entries"] if e["status"] == "waiting"]


@pytest.mark.live
def test_events_flow_again_soon_after_redis_returns(
    own_redis: OwnRedis, live_server_factory: Callable[..., LiveServer], databases: Any
) -> None:
    """Dashboards on worker A, check-ins on worker B. Redis restarts: check-ins keep
    working, A's pages are told to re-sync (so the arrival in the gap is not missed), and
    an arrival after the return reaches A within seconds."""
    url = databases.new("sqlite")
    queue = {
        "database_url": url,
        "message_queue": own_redis.url,
        "BACKOFFICE_SOCKETIO_CHANNEL": f"bo-faults-{uuid.uuid4().hex[:8]}",
    }
    worker_a = live_server_factory(async_mode="eventlet", **queue)
    worker_b = live_server_factory(async_mode="eventlet", **queue)
    clients = Clients()
    try:
        dashboard = clients.staff(worker_a.url, live_login(worker_a.url, "frontdesk"))
        assert dashboard.call("waiting_room.snapshot", {"scope": "all"})["ok"]
        before = check_in(worker_b.url, CODE_PAGE, name="Before The Outage")
        dashboard.watch.wait_for("waiting_room.update", 30, _arrival_of(before["entry_id"]))

        own_redis.stop(kill=True)
        during = check_in(worker_b.url, CODE_PAGE, name="During The Outage")
        own_redis.start()
        dashboard.watch.wait_for("core.resync", 30)
        snapshot = dashboard.call("waiting_room.snapshot", {"scope": "all"})["data"]
        assert during["entry_id"] in {e["id"] for e in snapshot["entries"]}

        after = _check_in_until_heard(worker_b, dashboard, deadline=30)
        print(f"an arrival crossed the queue again {after['waited']:.1f}s after Redis returned")
    finally:
        clients.close()
    assert "Traceback" not in worker_a.log() and "Traceback" not in worker_b.log()


def _arrival_of(entry_id: int) -> Callable[[Any], bool]:
    return lambda data: data["kind"] == "arrived" and data["entry"]["id"] == entry_id


def _check_in_until_heard(worker: LiveServer, dashboard: Any, deadline: float) -> dict[str, Any]:
    """Check in until one arrival reaches the dashboard through the queue. The first
    publish after the outage may meet the old, dead connection; the next one may not."""
    start = time.monotonic()
    while True:
        arrived = check_in(worker.url, CODE_PAGE, name="After The Outage")
        try:
            dashboard.watch.wait_for("waiting_room.update", 2, _arrival_of(arrived["entry_id"]))
            return {"entry": arrived, "waited": time.monotonic() - start}
        except AssertionError:
            if time.monotonic() - start > deadline:
                raise
