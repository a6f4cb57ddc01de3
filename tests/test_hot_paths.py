"""The waiting room's hot paths: work per arrival, heartbeat and page that does not grow with
the queue or the staff, one commit per request, one connection per request, and a full
pool or a lost database answered with a 503 instead of a hang.

Counts, never times: the figures live in ``make bench``.
"""

# The waiting room's fixtures are imported, and test parameters name them: F811 by design.
# ruff: noqa: F811

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import event, select

from core.database import db
from core.staff import directory
from plugins.waiting_room.models import WaitingEntry
from tests.conftest import TEST_PASSWORD, LiveServer
from tests.test_waiting_room import (  # noqa: F401  (make_room, room: fixtures)
    QUIET,
    Room,
    ack_error,
    ack_ok,
    csrf_of,
    join_path,
    make_room,
    room,
)

CODE_PAGE = "/wait/demo-practice"


@dataclass
class Counts:
    queries: int = 0
    commits: int = 0


@contextmanager
def counting(app: Flask) -> Iterator[Counts]:
    """Statements and real COMMITs sent to the database inside the block."""
    counts = Counts()
    with app.app_context():
        engine = db.engine

    def on_query(*_args: Any) -> None:
        counts.queries += 1

    def on_commit(*_args: Any) -> None:
        counts.commits += 1

    event.listen(engine, "before_cursor_execute", on_query)
    event.listen(engine, "commit", on_commit)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_query)
        event.remove(engine, "commit", on_commit)


def add_clinicians(room: Room, count: int) -> None:
    from core import access

    with room.app.app_context():
        sm = room.app.extensions["appbuilder"].sm
        role = sm.find_role("Clinician")
        for n in range(count):
            user = sm.add_user(
                f"extra{n}", "Extra", f"Clinician {n}", f"extra{n}@x.test", role, TEST_PASSWORD
            )
            access.access_of(user.id).telehealth_enabled = True
        db.session.commit()


def fill_queue(room: Room, count: int) -> list[dict[str, Any]]:
    return [room.check_in(CODE_PAGE, name=f"Waiting {n}") for n in range(count)]


def cold_join_page(room: Room) -> Counts:
    with room.app.app_context():
        directory().invalidate()
    http = room.app.test_client()
    with counting(room.app) as counts:
        assert http.get(CODE_PAGE).status_code == 200
    return counts


# --- per-request work ---------------------------------------------------------------------


def test_the_join_page_costs_the_same_queries_whatever_the_number_of_staff(room: Room) -> None:
    few = cold_join_page(room)
    add_clinicians(room, 25)
    many = cold_join_page(room)
    assert many.queries == few.queries
    assert many.commits == 0
    assert "Extra Clinician 24" in room.app.test_client().get(CODE_PAGE).text

    http = room.app.test_client()
    with counting(room.app) as warm:  # the directory is cached between pages
        http.get(CODE_PAGE)
    assert warm.queries < few.queries


def test_a_change_to_staff_reaches_the_cached_directory_at_once(room: Room) -> None:
    assert "Extra Clinician 0" not in room.app.test_client().get(CODE_PAGE).text
    add_clinicians(room, 1)
    assert "Extra Clinician 0" in room.app.test_client().get(CODE_PAGE).text
    with room.app.app_context():
        from core import access

        user = room.app.extensions["appbuilder"].sm.find_user(username="extra0")
        access.set_telehealth(user, False)
    assert "Extra Clinician 0" not in room.app.test_client().get(CODE_PAGE).text


def check_in_counts(room: Room) -> Counts:
    http = room.app.test_client()
    csrf = csrf_of(http.get(CODE_PAGE).text)
    with counting(room.app) as counts:
        response = http.post(
            CODE_PAGE + "/enter", json={"name": "Timed Patient"}, headers={"X-CSRFToken": csrf}
        )
    assert response.status_code == 201, response.text
    return counts


def test_a_check_in_is_one_commit_and_does_not_grow_with_the_queue(room: Room) -> None:
    staff = room.staff("frontdesk")
    fill_queue(room, 3)
    short = check_in_counts(room)
    fill_queue(room, 25)
    long = check_in_counts(room)
    # One commit for the entry, its audit row and Reporting's visit record of it.
    assert short.commits == long.commits == 1
    assert long.queries == short.queries
    with room.app.app_context():
        from plugins.reporting.models import Visit

        assert db.session.query(Visit).count() == 3 + 1 + 25 + 1
    arrivals = [u for u in staff.received("waiting_room.update") if u["kind"] == "arrived"]
    assert len(arrivals) == 3 + 1 + 25 + 1


def test_heartbeats_are_written_in_batches(make_room: Any) -> None:
    room = make_room(WAITING_ROOM_PRESENCE_FLUSH=3600)
    token = room.check_in(CODE_PAGE)
    patient = room.patient(token["token"])
    before = room.entry(token["entry_id"]).last_seen_at
    with counting(room.app) as quiet:
        for _ in range(5):
            ack_ok(patient.call("waiting_room.status"))
    assert quiet.commits == 0
    assert room.entry(token["entry_id"]).last_seen_at == before

    eager = make_room(WAITING_ROOM_PRESENCE_FLUSH=0)
    token = eager.check_in(CODE_PAGE)
    patient = eager.patient(token["token"])
    before = eager.entry(token["entry_id"]).last_seen_at
    with counting(eager.app) as due:
        ack_ok(patient.call("waiting_room.status"))
    assert due.commits == 1  # the batch: entries and sockets, one statement each
    assert eager.entry(token["entry_id"]).last_seen_at > before


def test_housekeeping_writes_presence_in_short_chunks_and_heartbeats_never_wait_for_it(
    make_room: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plugins.waiting_room import presence

    room = make_room(WAITING_ROOM_PRESENCE_FLUSH=100)
    tokens = [room.check_in(CODE_PAGE, name=f"Seen {n}") for n in range(5)]
    patients = [room.patient(t["token"]) for t in tokens]
    before = {t["entry_id"]: room.entry(t["entry_id"]).last_seen_at for t in tokens}
    with room.app.app_context():
        import time

        # Due (1.5 intervals since the last batch), not yet overdue: heartbeats leave it.
        presence.buffer()._flushed_at = time.monotonic() - 150
    with counting(room.app) as beats:
        for patient in patients:
            ack_ok(patient.call("waiting_room.status"))
    assert beats.commits == 0

    monkeypatch.setattr(presence, "CHUNK", 2)
    with room.app.app_context(), counting(room.app) as upkeep:
        from core.app import plugin_manager

        plugin_manager().call_each("backoffice_housekeeping", app=room.app)
    assert upkeep.commits == 3 + 3  # five entries and five sockets, two rows a commit
    for entry_id, seen in before.items():
        assert room.entry(entry_id).last_seen_at > seen


def heartbeat_counts(room: Room, patient: Any) -> Counts:
    with counting(room.app) as counts:
        ack_ok(patient.call("waiting_room.status"))
    return counts


def test_a_heartbeat_does_not_grow_with_the_queue(make_room: Any) -> None:
    room = make_room(WAITING_ROOM_PRESENCE_FLUSH=3600)
    patient = room.patient(room.check_in(CODE_PAGE)["token"])
    short = heartbeat_counts(room, patient)
    fill_queue(room, 25)
    long = heartbeat_counts(room, patient)
    assert long.queries == short.queries
    assert long.commits == short.commits == 0


def test_staff_heartbeats_are_written_in_batches(make_room: Any) -> None:
    room = make_room(WAITING_ROOM_PRESENCE_FLUSH=3600)
    staff = room.staff("clinician1")  # its snapshot brought it online
    with counting(room.app) as counts:
        for _ in range(5):
            ack_ok(staff.call("waiting_room.heartbeat"))
    assert counts.commits == 0


DEVICE_CHECK = {"camera": True, "microphone": True}


def device_check_counts(room: Room) -> tuple[Counts, dict[str, Any]]:
    patient = room.patient(room.check_in(CODE_PAGE)["token"])
    with counting(room.app) as counts:
        view = ack_ok(patient.call("waiting_room.device_check", DEVICE_CHECK))
    assert patient.received("waiting_room.status") == []  # its answer is the view
    return counts, view


def test_a_device_check_is_one_commit_and_does_not_grow_with_the_queue(room: Room) -> None:
    staff = room.staff("frontdesk")
    short, view = device_check_counts(room)
    fill_queue(room, 25)
    long, _ = device_check_counts(room)
    assert short.commits == long.commits == 1
    assert long.queries == short.queries
    assert view["device_status"] == "ok" and view["version"] == view["entry_version"]
    updates = [u for u in staff.received("waiting_room.update") if u["kind"] == "device"]
    assert [u["entry"]["device"]["status"] for u in updates] == ["ok", "ok"]


def test_only_the_patients_behind_a_departure_hear_of_it(room: Room) -> None:
    """An arrival moves nobody (the newest is last); an admission moves those behind it."""
    staff = room.staff("frontdesk")
    tokens = fill_queue(room, 3)
    patients = [room.patient(t["token"]) for t in tokens]
    first_position = ack_ok(patients[0].call("waiting_room.status"))["position"]
    for patient in patients:
        patient.received()

    room.check_in(CODE_PAGE)
    assert all(p.received() == [] for p in patients)

    ack_ok(staff.call("waiting_room.admit", {"entry_id": tokens[1]["entry_id"]}))
    assert patients[0].received("waiting_room.position") == []  # ahead: not moved
    assert patients[1].received("waiting_room.status")[-1]["status"] == "admitted"
    moved = patients[2].received("waiting_room.position")
    assert [m["position"] for m in moved] == [first_position + 1]
    assert moved[0]["entry_id"] == tokens[2]["entry_id"]
    view = ack_ok(patients[2].call("waiting_room.status"))
    assert view["position"] == first_position + 1


def test_positions_in_one_pass_match_positions_one_by_one(room: Room) -> None:
    from plugins.waiting_room import room as service

    clinician = room.user_id("clinician1")
    fill_queue(room, 4)
    room.check_in(CODE_PAGE, provider_id=clinician)
    room.check_in(CODE_PAGE)
    with room.app.app_context():
        waiting = db.session.scalars(select(WaitingEntry).where(WaitingEntry.status == "waiting"))
        one_by_one = {e.id: service.position_of(e) for e in waiting}
        in_one_pass = {p.entry_id: p.position for p in service.places()}
    assert one_by_one == in_one_pass
    assert len(in_one_pass) >= 6


# --- the pool: full, or the database gone -------------------------------------------------


def test_a_full_pool_answers_503_and_recovers(make_room: Any) -> None:
    room = make_room(DATABASE_POOL_SIZE=1, DATABASE_MAX_OVERFLOW=0, DATABASE_POOL_TIMEOUT=0.2)
    token = room.check_in(CODE_PAGE)
    patient = room.patient(token["token"])
    with room.app.app_context():
        directory().invalidate()
        held = db.engine.connect()  # the pool's only connection
    try:
        page = room.app.test_client().get(CODE_PAGE)
        assert page.status_code == 503
        assert "Temporarily unavailable" in page.text and "Traceback" not in page.text
        assert page.headers["Retry-After"]
        posted = room.app.test_client().post(
            CODE_PAGE + "/enter", json={"name": "Pat"}, headers={"Accept": "application/json"}
        )
        assert posted.status_code in {400, 503}  # no CSRF token from a page that failed
        ack_error(patient.call("waiting_room.status"), "unavailable")
    finally:
        held.close()
    assert room.app.test_client().get(CODE_PAGE).status_code == 200
    ack_ok(patient.call("waiting_room.status"))


def test_an_api_client_gets_the_503_as_json(make_room: Any) -> None:
    room = make_room(DATABASE_POOL_SIZE=1, DATABASE_MAX_OVERFLOW=0, DATABASE_POOL_TIMEOUT=0.2)
    with room.app.app_context():
        directory().invalidate()
        held = db.engine.connect()
    try:
        response = room.app.test_client().get(CODE_PAGE, headers={"Accept": "application/json"})
    finally:
        held.close()
    assert response.status_code == 503
    assert response.get_json()["code"] == "unavailable"


# --- a burst on a live green worker --------------------------------------------------------


@pytest.mark.live
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_burst_does_not_stall_a_green_worker(backend: str, live_server_factory: Any) -> None:
    """The stall: every handler waited for the plugin switches' lock while holding a
    connection, and the one refreshing them waited for a second connection. A pool of two
    and switches re-read on every request make it happen at once on the old code."""
    from tests.conftest import BACKENDS

    if backend not in BACKENDS:
        pytest.skip("set BACKOFFICE_TEST_DATABASE_URL to run the PostgreSQL tests")
    server: LiveServer = live_server_factory(
        async_mode="eventlet",
        backend=backend,
        BACKOFFICE_DATABASE_POOL_SIZE="2",
        BACKOFFICE_DATABASE_MAX_OVERFLOW="0",
        BACKOFFICE_PLUGIN_STATE_TTL="0",
        BACKOFFICE_STAFF_CACHE_TTL="0",
    )

    def fetch(path: str) -> int:
        try:
            return requests.get(server.url + path, timeout=60).status_code
        except requests.RequestException as exc:
            return -len(str(exc))  # a hang or a dropped connection

    paths = [CODE_PAGE, "/health", "/wait/"] * 20
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(paths)) as pool:
        statuses = list(pool.map(fetch, paths))
    assert all(status in {200, 503} for status in statuses), statuses
    assert statuses.count(200) > 0
    # The worker is not stuck: it answers, and every connection went back to the pool.
    assert requests.get(server.url + "/health", timeout=30).status_code == 200
    assert requests.get(server.url + CODE_PAGE, timeout=30).status_code == 200


def test_behind_a_trusted_proxy_the_client_address_counts(make_app: Any) -> None:
    from core.models import AuditEntry

    for hops, expected in ((0, "127.0.0.1"), (1, "203.0.113.9")):
        app = make_app(TRUSTED_PROXIES=hops, WTF_CSRF_ENABLED=False)
        app.test_client().post(
            "/login/",
            data={"username": "nobody", "password": "wrong"},
            headers={"X-Forwarded-For": "203.0.113.9"},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
        with app.app_context():
            newest = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
            assert newest is not None and newest.ip == expected, (hops, newest and newest.ip)


def test_an_unchanged_heartbeat_leaves_the_chat_out(room: Room) -> None:
    staff = room.staff("frontdesk")
    token = room.check_in(CODE_PAGE)
    patient = room.patient(token["token"])
    full = ack_ok(patient.call("waiting_room.status"))
    assert full["messages"] == [] and "unchanged" not in full
    with counting(room.app) as light_counts:
        light = ack_ok(patient.call("waiting_room.status", {"known": full["entry_version"]}))
    with counting(room.app) as full_counts:
        ack_ok(patient.call("waiting_room.status", {"known": None}))
    assert light["unchanged"] is True and "messages" not in light
    assert light["position"] == full["position"] and light["status"] == "waiting"
    assert light_counts.queries < full_counts.queries

    ack_ok(staff.call("waiting_room.message", {"entry_id": token["entry_id"], "body": "Hi"}))
    changed = ack_ok(patient.call("waiting_room.status", {"known": full["entry_version"]}))
    assert "unchanged" not in changed and [m["body"] for m in changed["messages"]] == ["Hi"]
