"""Socket.IO against real ``backoffice run`` processes: acks, authentication, gating, Redis.

Tests that switch plugins or write rows start their own servers; those that only connect
share one. Waits are polls with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine, text

from core import tokens
from plugins.tools import verdict
from tests.conftest import BACKENDS, DatabaseFactory, LiveServer, csrf_token_from, live_login
from tests.realtime_helpers import PATIENT, STAFF, Clients, Connection, database, poll

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]

#: How long a worker may take to notice a plugin switch (PLUGIN_STATE_TTL is 1 s).
SWITCH_DEADLINE = 2.0

ASYNC_MODES = ["eventlet", "gevent", "threading"]

RECORD_BACKENDS = BACKENDS


@pytest.fixture(scope="module")
def shared_server(
    databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One eventlet server for the tests that only connect and read, to save start-ups."""
    server = LiveServer(
        database_url=databases.new("sqlite"),
        instance_dir=tmp_path_factory.mktemp("shared_live"),
        async_mode="eventlet",
    )
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def clients(live_server_factory: Callable[..., LiveServer]) -> Iterator[Clients]:
    """Socket.IO clients, disconnected before the servers stop."""
    opened = Clients()
    yield opened
    opened.close()


def assert_ok(ack: dict[str, Any]) -> Any:
    assert ack.get("ok") is True, ack
    return ack["data"]


def assert_error(ack: dict[str, Any], code: str) -> dict[str, Any]:
    assert ack.get("ok") is False, ack
    error: dict[str, Any] = ack["error"]
    assert error["code"] == code, ack
    assert isinstance(error["message"], str) and error["message"], ack
    return error


def assert_alive(connection: Connection, sid: str | None) -> None:
    """Same socket as before, never dropped, and still answering."""
    assert connection.client.connected
    assert connection.sid == sid
    assert connection.watch.disconnects == []
    sent = time.time()
    assert assert_ok(connection.call("tools.ping", {"sent_at": sent}))["sent_at"] == sent


def mint_patient_token(app: Flask, **claims: Any) -> str:
    with app.app_context():
        return tokens.new_patient_token(**claims)


def speed_test_rows(engine: Engine) -> list[dict[str, Any]]:
    query = text(
        "SELECT r.id, u.username, r.latency_ms, r.download_mbps, r.upload_mbps, r.verdict "
        "FROM tools_speed_test_result r JOIN ab_user u ON u.id = r.user_id ORDER BY r.id"
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def plugin_page(session: requests.Session, url: str) -> int:
    return session.get(url + "/tools/speedtest/", timeout=5, allow_redirects=False).status_code


# --- 1. acknowledgements in every async mode ----------------------------------------


@pytest.mark.parametrize("async_mode", ASYNC_MODES)
def test_staff_events_are_acknowledged_and_bad_input_never_drops_the_socket(
    live_server_factory: Callable[..., LiveServer], clients: Clients, async_mode: str
) -> None:
    server = live_server_factory(async_mode=async_mode)
    assert requests.get(server.url + "/health", timeout=5).json()["async_mode"] == async_mode
    staff = clients.staff(server.url, live_login(server.url, "admin"))
    sid = staff.sid
    assert sid

    before = time.time()
    data = assert_ok(staff.call("tools.ping", {"sent_at": 1234.5}))
    assert data["sent_at"] == 1234.5
    assert before - 5 <= data["server_time"] <= time.time() + 5

    bad_objects: list[tuple[dict[str, Any] | None, str]] = [
        ({"sent_at": "soon"}, "sent_at"),
        ({}, "sent_at"),
        (None, "sent_at"),
        ({"sent_at": 1.0, "extra": True}, "extra"),
    ]
    for payload, field in bad_objects:
        error = assert_error(staff.call("tools.ping", payload), "invalid")
        assert isinstance(error.get("fields"), dict), error
        assert field in error["fields"], (payload, error)

    not_objects: list[Any] = [[1.0, 2.0], [{"sent_at": 1.0}], "ping", 42]
    for not_object in not_objects:
        assert_error(staff.call("tools.ping", not_object), "invalid")

    for event in ("tools.no_such_event", "nosuchplugin.ping", "core.plugin_switched"):
        error = assert_error(staff.call(event, {"sent_at": 1.0}), "unknown_event")
        assert event in error["message"]

    assert_alive(staff, sid)
    assert "Traceback" not in server.log()


# --- 2. who may connect ------------------------------------------------------------


def test_staff_namespace_needs_a_login_and_the_same_origin(
    shared_server: LiveServer, clients: Clients
) -> None:
    server = shared_server

    refused = clients.refused(server.url, STAFF)
    assert refused.by_namespace and refused.watch.connect_errors, refused
    anonymous = requests.Session()
    anonymous.get(server.url + "/login/", timeout=5)  # an anonymous session cookie
    refused = clients.refused(server.url, STAFF, session=anonymous)
    assert refused.by_namespace and refused.watch.connect_errors, refused

    admin = live_login(server.url, "admin")
    other_port = server.url.rsplit(":", 1)[0] + ":1"
    for origin in ("http://evil.example", other_port):
        # Logged in, so only the Origin can be the reason; refused before Socket.IO runs.
        refused = clients.refused(server.url, STAFF, session=admin, origin=origin)
        assert not refused.by_namespace, (origin, refused)
        refused = clients.refused(
            server.url, STAFF, session=admin, transport="polling", headers={"Origin": origin}
        )
        assert not refused.by_namespace, (origin, refused)

    # The same requests with the server's own Origin are accepted.
    for staff in (
        clients.staff(server.url, admin, origin=server.url),
        clients.staff(server.url, admin, transport="polling", headers={"Origin": server.url}),
    ):
        assert_alive(staff, staff.sid)


@pytest.mark.parametrize("backend", ["sqlite"])  # make_app only mints tokens here
def test_patients_need_a_valid_unexpired_token_and_only_reach_patient_events(
    shared_server: LiveServer,
    clients: Clients,
    make_app: Callable[..., Flask],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = shared_server
    app = make_app()  # the same SECRET_KEY (TEST_SECRET) as the live servers
    max_age = int(app.config["PATIENT_TOKEN_MAX_AGE"])

    token = mint_patient_token(app, visit="v-1")
    patient = clients.patient(server.url, token)
    data = assert_ok(patient.call("tools.ping", {"sent_at": 7.25}))
    assert data["sent_at"] == 7.25
    assert_error(patient.call("tools.ping", {"sent_at": "x"}), "invalid")

    # Staff-only events do not exist on /patient, whatever the payload.
    good_figures = {"latency_ms": 20.0, "download_mbps": 50.0, "upload_mbps": 10.0}
    assert_error(patient.call("tools.record_speed_test", good_figures), "unknown_event")
    assert_alive(patient, patient.sid)
    with database(server.database_url) as engine:
        assert speed_test_rows(engine) == []

    # A patient token is no staff login.
    refused = clients.refused(server.url, STAFF, auth={"token": token})
    assert refused.by_namespace and refused.watch.connect_errors, refused

    forged = URLSafeTimedSerializer("another-secret", salt="backoffice.patient").dumps(
        {"sub": "x" * 22}
    )
    other_salt = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="other").dumps(
        {"sub": "x" * 22}
    )
    payload, signature = token.rsplit(".", 1)
    tampered = f"{payload}.{'B' if signature[0] != 'B' else 'C'}{signature[1:]}"
    swapped_payload = f"{forged.rsplit('.', 1)[0]}.{signature}"
    signed_at = int(time.time()) - max_age - 60
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda _self: signed_at)
        expired = mint_patient_token(app)
    with app.app_context():
        # Only its age is wrong with the expired token; the others are bad outright.
        assert tokens.verify_patient_token(expired, max_age=2 * max_age) is not None
        bad = {
            "forged": forged,
            "other_salt": other_salt,
            "tampered": tampered,
            "swapped_payload": swapped_payload,
            "expired": expired,
            "garbage": "not-a-token",
        }
        for name, bad_token in bad.items():
            assert tokens.verify_patient_token(bad_token) is None, name
    attempts: dict[str, dict[str, Any] | None] = {name: {"token": t} for name, t in bad.items()}
    attempts |= {"no_auth": None, "no_token": {}, "token_not_a_string": {"token": 12345}}
    for name, auth in attempts.items():
        refused = clients.refused(server.url, PATIENT, auth=auth)
        assert refused.by_namespace and refused.watch.connect_errors, (name, refused)

    assert_alive(patient, patient.sid)


def test_a_refused_connection_tells_the_client_why(
    shared_server: LiveServer, clients: Clients
) -> None:
    server = shared_server
    staff = clients.refused(server.url, STAFF)
    patient = clients.refused(server.url, PATIENT, auth={"token": "not-a-token"})
    assert staff.watch.connect_errors == [{"message": "unauthorized"}]
    assert patient.watch.connect_errors == [{"message": "invalid or expired patient token"}]


# --- 3. a plugin event that writes --------------------------------------------------


@pytest.mark.parametrize("backend", RECORD_BACKENDS)
def test_record_speed_test_stores_the_senders_result_and_rejects_out_of_range_figures(
    live_server_factory: Callable[..., LiveServer], clients: Clients, database_url: str
) -> None:
    server = live_server_factory(async_mode="eventlet", database_url=database_url)
    sent = {
        "admin": {"latency_ms": 42.0, "download_mbps": 80.5, "upload_mbps": 20.25},
        "clinician1": {"latency_ms": 900.0, "download_mbps": 0.5, "upload_mbps": 0.2},
    }
    expected = {
        "admin": verdict.verdict(42.0, 80.5, 20.25),
        "clinician1": verdict.verdict(900.0, 0.5, 0.2),
    }
    assert expected == {"admin": verdict.GOOD, "clinician1": verdict.POOR}
    connections = {user: clients.staff(server.url, live_login(server.url, user)) for user in sent}
    acks = {
        user: assert_ok(connections[user].call("tools.record_speed_test", figures))
        for user, figures in sent.items()
    }
    with database(server.database_url) as engine:
        rows = {row["id"]: row for row in speed_test_rows(engine)}
        assert len(rows) == 2, rows
        for user, ack in acks.items():
            assert ack["verdict"] == expected[user]
            row = rows[ack["id"]]
            assert row["username"] == user
            assert row["verdict"] == expected[user]
            assert {key: row[key] for key in sent[user]} == sent[user]

        admin = connections["admin"]
        for figures, bad_fields in [
            ({"latency_ms": -1.0, "download_mbps": 10.0, "upload_mbps": 5.0}, {"latency_ms"}),
            (
                {"latency_ms": 60_001.0, "download_mbps": 100_001.0, "upload_mbps": -0.5},
                {"latency_ms", "download_mbps", "upload_mbps"},
            ),
            ({"latency_ms": 10.0, "download_mbps": "fast", "upload_mbps": 5.0}, {"download_mbps"}),
            ({"latency_ms": 10.0, "download_mbps": 10.0}, {"upload_mbps"}),
        ]:
            error = assert_error(admin.call("tools.record_speed_test", figures), "invalid")
            assert set(error["fields"]) == bad_fields, (figures, error)
        assert_error(admin.call("tools.record_speed_test", [sent["admin"]]), "invalid")
        assert_alive(admin, admin.sid)
        assert len(speed_test_rows(engine)) == 2


def test_every_verdict_fits_its_column() -> None:
    from plugins.tools.models import SpeedTestResult

    length = SpeedTestResult.__table__.c.verdict.type.length
    for words in (verdict.GOOD, verdict.FAIR, verdict.POOR):
        assert len(words) <= length, (words, len(words), length)


# --- 4. gating by the plugin switch ---------------------------------------------------


def test_a_plugin_switched_off_by_the_cli_answers_plugin_disabled_and_back_on(
    live_server_factory: Callable[..., LiveServer], clients: Clients
) -> None:
    server = live_server_factory(async_mode="eventlet")
    staff = clients.staff(server.url, live_login(server.url, "admin"))
    sid = staff.sid
    assert_ok(staff.call("tools.ping", {"sent_at": 1.0}))

    def ping() -> dict[str, Any]:
        ack = staff.call("tools.ping", {"sent_at": 2.0})
        assert ack["ok"] or ack["error"]["code"] == "plugin_disabled", ack
        return ack

    result = server.cli("plugins", "disable", "tools")
    assert result.returncode == 0, result.stderr
    ack, waited = poll(ping, lambda ack: not ack["ok"], SWITCH_DEADLINE)
    assert "tools" in assert_error(ack, "plugin_disabled")["message"]
    print(f"plugin_disabled after {waited:.2f}s")
    # Switched off, the socket stays up and the hub still answers.
    assert staff.client.connected and staff.sid == sid and staff.watch.disconnects == []
    assert_error(staff.call("tools.no_such_event"), "unknown_event")

    result = server.cli("plugins", "enable", "tools")
    assert result.returncode == 0, result.stderr
    _ack, waited = poll(ping, lambda ack: ack["ok"], SWITCH_DEADLINE)
    print(f"enabled again after {waited:.2f}s")
    assert_alive(staff, sid)


# --- 5. several workers behind one Redis queue ----------------------------------------


def test_a_switch_on_one_worker_reaches_the_clients_and_pages_of_another(
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
    # One live session per user: the admin switches on A, a clinician watches on B.
    admin_a = live_login(worker_a.url, "admin")
    clinician_b = live_login(worker_b.url, "clinician1")
    listener = clients.staff(worker_b.url, clinician_b)
    assert plugin_page(clinician_b, worker_b.url) == 200

    def switch(enabled: bool) -> None:
        page = admin_a.get(worker_a.url + "/admin/plugins/", timeout=5)
        response = admin_a.post(
            worker_a.url + "/admin/plugins/tools/switch",
            data={"enabled": "1" if enabled else "0", "csrf_token": csrf_token_from(page.text)},
            timeout=10,
            allow_redirects=False,
        )
        assert response.status_code == 302, response.text[:500]

    # Redis pub/sub channels span databases; an early event would be another run's.
    assert not [e for e in listener.watch.events if e[0] == "core.plugin_switched"]
    switch(False)
    switched_at = time.monotonic()
    listener.watch.wait_for(
        "core.plugin_switched",
        SWITCH_DEADLINE,
        lambda data: data == {"name": "tools", "enabled": False},
    )
    print(f"worker B told after {time.monotonic() - switched_at:.2f}s")
    left = SWITCH_DEADLINE - (time.monotonic() - switched_at)
    poll(lambda: plugin_page(clinician_b, worker_b.url), lambda s: s == 404, max(left, 0.0))
    print(f"worker B's page gone after {time.monotonic() - switched_at:.2f}s")
    assert_error(listener.call("tools.ping", {"sent_at": 1.0}), "plugin_disabled")

    switch(True)
    listener.watch.wait_for(
        "core.plugin_switched",
        SWITCH_DEADLINE,
        lambda data: data == {"name": "tools", "enabled": True},
    )
    poll(lambda: plugin_page(clinician_b, worker_b.url), lambda s: s == 200, SWITCH_DEADLINE)
    assert_alive(listener, listener.sid)
