"""The waiting room against real ``backoffice run`` processes, with python-socketio clients.

The whole flow (check in, arrival on the dashboard, messages both ways, admission) in each
async mode; two eventlet workers sharing Redis and one database; and a server restart,
after which patients keep their entry and their place. Every wait has a deadline.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import LiveServer, live_login
from tests.realtime_helpers import Clients, Connection
from tests.waiting_room_helpers import check_in, make_invite

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]

ASYNC_MODES = ["eventlet", "gevent", "threading"]
DEADLINE = 5.0  # seconds for a notification to reach a client


@pytest.fixture
def clients(live_server_factory: Callable[..., LiveServer]) -> Iterator[Clients]:
    """Socket.IO clients, disconnected before the servers stop."""
    opened = Clients()
    yield opened
    opened.close()


def assert_ok(ack: dict[str, Any]) -> Any:
    assert ack.get("ok") is True, ack
    return ack["data"]


def is_update(kind: str, entry_id: int) -> Callable[[Any], bool]:
    return lambda data: data["kind"] == kind and data["entry"]["id"] == entry_id


def run_the_visit(staff: Connection, patient: Connection, entry_id: int) -> None:
    """Messages both ways, then admission, each seen live by the other side."""
    assert_ok(patient.call("waiting_room.message", {"body": "I am here"}))
    seen, waited = staff.watch.wait_for(
        "waiting_room.update", DEADLINE, is_update("message", entry_id)
    )
    assert seen["entry"]["messages"][-1]["body"] == "I am here"
    print(f"patient message on the dashboard after {waited:.2f}s")

    assert_ok(staff.call("waiting_room.message", {"entry_id": entry_id, "body": "Two minutes"}))
    view, waited = patient.watch.wait_for(
        "waiting_room.status",
        DEADLINE,
        lambda v: any(m["body"] == "Two minutes" for m in v["messages"]),
    )
    assert [m["sender"] for m in view["messages"]] == ["patient", "staff"]
    print(f"staff message on the patient page after {waited:.2f}s")

    admitted = assert_ok(staff.call("waiting_room.admit", {"entry_id": entry_id}))
    assert admitted["status"] == "admitted"
    view, waited = patient.watch.wait_for(
        "waiting_room.status", DEADLINE, lambda v: v["status"] == "admitted"
    )
    assert view["entry_id"] == entry_id and view["position"] is None
    print(f"admission on the patient page after {waited:.2f}s")


@pytest.mark.parametrize("async_mode", ASYNC_MODES)
def test_check_in_arrival_messages_and_admission_in_each_async_mode(
    live_server_factory: Callable[..., LiveServer], clients: Clients, async_mode: str
) -> None:
    server = live_server_factory(async_mode=async_mode)
    assert requests.get(server.url + "/health", timeout=5).json()["async_mode"] == async_mode
    staff = clients.staff(server.url, live_login(server.url, "clinician1"))
    snapshot = assert_ok(staff.call("waiting_room.snapshot", {}))
    me = snapshot["me"]["user_id"]

    joined = check_in(server.url, "/wait/demo-practice", name="Robin Live", provider_id=me)
    entry_id = joined["entry_id"]
    arrival, waited = staff.watch.wait_for(
        "waiting_room.update", DEADLINE, is_update("arrived", entry_id)
    )
    print(f"{async_mode}: arrival on the dashboard after {waited:.2f}s")
    assert arrival["entry"]["name"] == "Robin Live"
    assert arrival["entry"]["invite_kind"] == "external"
    assert arrival["entry"]["provider_id"] == me
    assert arrival["version"] == snapshot["version"] + 1

    patient = clients.patient(server.url, joined["token"])
    view = assert_ok(patient.call("waiting_room.status", {}))
    assert view["entry_id"] == entry_id and view["status"] == "waiting"
    assert view["position"] == len([e for e in snapshot["entries"] if e["provider_id"] == me]) + 1
    assert view["provider"]["name"] == "Casey Morgan" and view["provider"]["online"] is True

    run_the_visit(staff, patient, entry_id)
    versions = [d["version"] for name, d in staff.watch.events if name == "waiting_room.update"]
    assert versions == list(range(versions[0], versions[0] + len(versions)))  # no gaps
    assert "Traceback" not in server.log()


def test_two_workers_share_the_waiting_room_through_redis(
    live_server_factory: Callable[..., LiveServer],
    clients: Clients,
    database_url: str,
    redis_url: str,
) -> None:
    channel = f"backoffice-test-{uuid.uuid4().hex}"  # no cross-talk with other runs
    worker_a, worker_b = (
        live_server_factory(
            async_mode="eventlet",
            database_url=database_url,
            message_queue=redis_url,
            BACKOFFICE_SOCKETIO_CHANNEL=channel,
        )
        for _ in range(2)
    )
    staff_b = clients.staff(worker_b.url, live_login(worker_b.url, "clinician1"))
    desk_a = clients.staff(worker_a.url, live_login(worker_a.url, "frontdesk"))
    assert_ok(staff_b.call("waiting_room.snapshot", {}))
    assert_ok(desk_a.call("waiting_room.snapshot", {}))

    # The patient checks in on worker A; the clinician's dashboard is on worker B.
    joined = check_in(worker_a.url, "/wait/demo-practice", name="Sam Across")
    entry_id = joined["entry_id"]
    arrival, waited = staff_b.watch.wait_for(
        "waiting_room.update", DEADLINE, is_update("arrived", entry_id)
    )
    print(f"arrival on worker B after {waited:.2f}s")
    assert arrival["entry"]["name"] == "Sam Across"
    desk_a.watch.wait_for("waiting_room.update", DEADLINE, is_update("arrived", entry_id))

    patient_a = clients.patient(worker_a.url, joined["token"])
    assert assert_ok(patient_a.call("waiting_room.status", {}))["entry_id"] == entry_id
    run_the_visit(staff_b, patient_a, entry_id)
    # The front desk on worker A saw the admission made on worker B.
    desk_a.watch.wait_for("waiting_room.update", DEADLINE, is_update("admitted", entry_id))
    assert "Traceback" not in worker_a.log() + worker_b.log()


def test_patients_keep_their_entry_and_place_across_a_server_restart(
    live_server_factory: Callable[..., LiveServer], clients: Clients, tmp_path: Path
) -> None:
    server = live_server_factory(async_mode="eventlet")
    token = make_invite(server.database_url, tmp_path / "invites")
    first = check_in(server.url, f"/join/{token}", name="First Restart")
    second = check_in(server.url, "/wait/demo-practice", name="Second Restart")
    patient = clients.patient(server.url, first["token"])
    before = assert_ok(patient.call("waiting_room.status", {}))
    staff = clients.staff(server.url, live_login(server.url, "frontdesk"))
    order_before = [e["id"] for e in assert_ok(staff.call("waiting_room.snapshot", {}))["entries"]]
    assert order_before[-2:] == [first["entry_id"], second["entry_id"]]

    server.restart()
    clients.close()  # the old sockets died with the server; the pages reconnect

    patient = clients.patient(server.url, first["token"])  # same token, kept by the page
    after = assert_ok(patient.call("waiting_room.status", {}))
    assert after["entry_id"] == first["entry_id"]
    assert after["status"] == "waiting" and after["position"] == before["position"]
    assert after["arrived_at"] == before["arrived_at"]
    staff = clients.staff(server.url, live_login(server.url, "frontdesk"))
    order_after = [e["id"] for e in assert_ok(staff.call("waiting_room.snapshot", {}))["entries"]]
    assert order_after == order_before
    # The same invite, opened again, is still the same entry.
    again = check_in(server.url, f"/join/{token}", name="First Restart")
    assert again["entry_id"] == first["entry_id"] and again["created"] is False
    # And the room keeps working: the patient is admitted live.
    assert_ok(staff.call("waiting_room.admit", {"entry_id": first["entry_id"]}))
    patient.watch.wait_for("waiting_room.status", DEADLINE, lambda v: v["status"] == "admitted")
    assert "Traceback" not in server.log()
