"""Faults: a worker killed with patients waiting, the message queue going away under two
workers, the database going away under a worker. CI runs the short form; ``make soak``
the full one (``BACKOFFICE_SOAK=1``: 50 patients waiting instead of 10).

Each test starts what it breaks (its own workers, its own redis-server on a free port), so
the machine's services are never touched. Waits follow readiness with generous bounds;
nothing here fails on a time, only on something lost, an error or a worker that stays
stuck. The records that matter are counted before and after each fault.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from sqlalchemy import make_url, text

from tests.conftest import LiveServer, OwnRedis, free_port, live_login
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


class Outage:
    """A TCP relay between a worker and the real PostgreSQL that a test can cut and mend:
    the database goes away for the worker (open connections reset, new ones refused)
    while the machine's PostgreSQL keeps running for everyone else."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):  # wakes the accept() blocked on it
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:  # cut
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self._open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@pytest.mark.live
def test_a_database_outage_answers_503_and_recovers_without_a_restart(
    live_server_factory: Callable[..., LiveServer], databases: Any
) -> None:
    """PostgreSQL goes away under a worker for a while: pages answer 503 with a message,
    sockets an ``unavailable`` ack, ``/health`` says degraded; when it is back the same
    worker serves again, and nothing acknowledged before the outage is lost."""
    from tests.conftest import PG_URL

    if not PG_URL:
        pytest.skip("set BACKOFFICE_TEST_DATABASE_URL to run the PostgreSQL tests")
    url = databases.new("postgresql")
    upstream = make_url(url)
    outage = Outage(upstream.port or 5432)
    outage.start()
    relayed = upstream.set(host="127.0.0.1", port=outage.port).render_as_string(False)
    server = live_server_factory(async_mode="eventlet", database_url=relayed)
    waiting = [check_in(server.url, CODE_PAGE, name=f"Before {n}") for n in range(WAITING)]
    before = counts(url)
    clients = Clients()
    try:
        patient = clients.patient(server.url, waiting[0]["token"])
        assert patient.call("waiting_room.status")["ok"]
        page = OpenPage(server).open()

        outage.cut()
        health = _poll_health(server, 503)
        assert health["status"] == "degraded" and health["database"].startswith("unreachable")
        refused = page.check_in()
        assert refused.status_code == 503, refused.text[:300]
        assert refused.json()["code"] == "unavailable" and refused.headers["Retry-After"]
        ack = patient.call("waiting_room.status")
        assert ack["ok"] is False and ack["error"]["code"] == "unavailable", ack

        outage.start()
        _poll_health(server, 200)
        assert patient.call("waiting_room.status")["ok"]
        after_outage = check_in(server.url, CODE_PAGE, name="After The Outage")
    finally:
        clients.close()
        outage.cut()
    after = counts(url)
    assert after["waiting_room_entry"] == before["waiting_room_entry"] + 1
    assert all(after[table] >= before[table] for table in COUNTED), (before, after)
    assert after_outage["created"] is True


@dataclass
class OpenPage:
    """A patient's join page, opened (with its CSRF token) before the outage."""

    server: LiveServer
    http: requests.Session = field(default_factory=requests.Session)
    csrf: str = ""

    def open(self) -> OpenPage:
        page = self.http.get(self.server.url + CODE_PAGE, timeout=30)
        found = re.search(r'data-csrf="([^"]+)"', page.text)
        assert found, page.text[:300]
        self.csrf = found[1]
        return self

    def check_in(self) -> requests.Response:
        return self.http.post(
            self.server.url + CODE_PAGE + "/enter",
            json={"name": "During The Outage"},
            headers={"X-CSRFToken": self.csrf, "Accept": "application/json"},
            timeout=30,
        )


def _poll_health(server: LiveServer, status: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        try:
            response = requests.get(server.url + "/health", timeout=30)
            if response.status_code == status:
                body: dict[str, Any] = response.json()
                return body
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"/health never answered {status}")
        time.sleep(0.2)
