"""A login that ends takes its sockets with it: the server disconnects them, so a client
that ignores "signed out" hears nothing more (patient names least of all)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import socketio
from flask import Flask
from flask.testing import FlaskClient

from core import access
from core.database import db
from core.realtime import socketio_of
from tests.conftest import LiveServer, live_login, login
from tests.realtime_helpers import cookie_header, poll

STAFF = "/staff"


def staff_socket(app: Flask, username: str) -> tuple[FlaskClient, Any]:
    http = app.test_client()
    login(http, username)
    sio = socketio_of(app).test_client(app, namespace=STAFF, flask_test_client=http)
    assert sio.is_connected(STAFF)
    return http, sio


def user_of(app: Flask, username: str) -> Any:
    return app.extensions["appbuilder"].sm.find_user(username=username)


def check_in_someone(app: Flask) -> None:
    http = app.test_client()
    page = http.get("/wait/demo-practice")
    import re

    csrf = re.search(r'data-csrf="([^"]+)"', page.text)
    assert csrf
    response = http.post(
        "/wait/demo-practice/enter", json={"name": "Private Name"}, headers={"X-CSRFToken": csrf[1]}
    )
    assert response.status_code == 201


def assert_cut_off(app: Flask, sio: Any) -> None:
    assert not sio.is_connected(STAFF)
    check_in_someone(app)
    with pytest.raises(RuntimeError):  # a disconnected test client has nothing to read
        sio.get_received(STAFF)


def end_by_newer_login(app: Flask) -> None:
    login(app.test_client(), "clinician1")


def end_by_logout(app: Flask, http: FlaskClient) -> None:
    http.get("/logout/")


def end_by_telehealth_off(app: Flask) -> None:
    with app.test_request_context():
        access.set_telehealth(user_of(app, "clinician1"), False)


def end_by_deactivation(app: Flask) -> None:
    with app.test_request_context():
        user = user_of(app, "clinician1")
        user.active = False
        db.session.commit()
        access.end_sessions(user.id, access.SESSION_REVOKED)


def end_by_group_rule(app: Flask) -> None:
    with app.test_request_context():
        role = app.extensions["appbuilder"].sm.find_role("Clinician")
        access.set_rule(role, access.telehealth_rule(), False)


ENDINGS: dict[str, Callable[..., None]] = {
    "newer login": end_by_newer_login,
    "logout": end_by_logout,
    "telehealth off": end_by_telehealth_off,
    "deactivated": end_by_deactivation,
    "group rule off": end_by_group_rule,
}


@pytest.mark.parametrize("how", list(ENDINGS))
def test_an_ended_login_loses_its_sockets(app: Flask, how: str) -> None:
    http, sio = staff_socket(app, "clinician1")
    _other_http, bystander = staff_socket(app, "frontdesk")
    ending = ENDINGS[how]
    if how == "logout":
        ending(app, http)
    else:
        ending(app)
    assert_cut_off(app, sio)
    assert bystander.is_connected(STAFF)  # only that login's sockets go
    bystander.get_received(STAFF)
    check_in_someone(app)
    assert any(m["name"] == "waiting_room.update" for m in bystander.get_received(STAFF))


def test_a_login_past_its_lifetime_loses_its_sockets(make_app: Callable[..., Flask]) -> None:
    app = make_app(SESSION_LIFETIME=3600)
    _http, sio = staff_socket(app, "clinician1")
    with app.app_context():
        import datetime as dt

        row = access.access_of(user_of(app, "clinician1").id)
        row.session_started_at = row.session_started_at - dt.timedelta(hours=2)
        db.session.commit()
        from core.realtime import drop_ended_logins

        assert len(drop_ended_logins(app)) == 1
    assert_cut_off(app, sio)


@pytest.mark.live
def test_a_newer_login_on_another_worker_cuts_a_raw_client_off(
    live_server_factory: Callable[..., LiveServer], redis_url: str, databases: Any
) -> None:
    """Two workers sharing PostgreSQL-or-SQLite and Redis: the old login's socket is on the
    first, the newer login happens on the second; the first drops the socket by itself."""
    import uuid

    url = databases.new("sqlite")
    channel = f"bo-test-{uuid.uuid4().hex[:8]}"
    first = live_server_factory(
        async_mode="eventlet",
        database_url=url,
        message_queue=redis_url,
        BACKOFFICE_SOCKETIO_CHANNEL=channel,
    )
    second = live_server_factory(
        async_mode="eventlet",
        database_url=url,
        message_queue=redis_url,
        BACKOFFICE_SOCKETIO_CHANNEL=channel,
    )
    old_login = live_login(first.url, "clinician1")
    raw = socketio.Client(reconnection=False)
    heard: list[Any] = []
    raw.on("waiting_room.update", lambda data: heard.append(data), namespace=STAFF)
    raw.connect(
        first.url,
        namespaces=[STAFF],
        headers={"Cookie": cookie_header(old_login)},
        transports=["websocket"],
    )
    try:
        live_login(second.url, "clinician1")  # ends the older login
        poll(lambda: raw.connected, lambda connected: not connected, timeout=15)
    finally:
        raw.disconnect()
    assert heard == []


@pytest.mark.live
def test_a_raw_client_that_only_listens_is_idle_logged_off(
    live_server_factory: Callable[..., LiveServer], databases: Any
) -> None:
    """A socket alone never keeps a login alive: with no request for the idle timeout the
    server tells the socket why, disconnects it and refuses it again; a login whose person
    is active (a page they open every second) keeps its socket."""
    import time

    server = live_server_factory(
        async_mode="eventlet",
        database_url=databases.new("sqlite"),
        BACKOFFICE_SESSION_IDLE_TIMEOUT="3",
        BACKOFFICE_SESSION_IDLE_WARNING="1",
        BACKOFFICE_STAFF_ACTIVITY_FLUSH="0.2",
    )
    listener, worker = live_login(server.url, "clinician1"), live_login(server.url, "frontdesk")
    told: list[Any] = []
    quiet, busy = socketio.Client(reconnection=False), socketio.Client(reconnection=False)
    quiet.on("core.session_ended", told.append, namespace=STAFF)
    for client, login_ in ((quiet, listener), (busy, worker)):
        client.connect(
            server.url,
            namespaces=[STAFF],
            headers={"Cookie": cookie_header(login_)},
            transports=["websocket"],
        )
    began = time.monotonic()
    try:

        def keep_busy() -> bool:
            assert worker.get(server.url + "/", timeout=10).status_code == 200
            return quiet.connected

        poll(keep_busy, lambda connected: not connected, timeout=30, interval=0.5)
        assert time.monotonic() - began >= 3  # not before the idle timeout
        assert [t["reason"] for t in told] == ["idle"]
        assert busy.connected  # active meanwhile, past the same timeout
        again = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            again.connect(
                server.url,
                namespaces=[STAFF],
                headers={"Cookie": cookie_header(listener)},
                transports=["websocket"],
                wait_timeout=10,
            )
    finally:
        quiet.disconnect()
        busy.disconnect()


def test_staff_activity_is_written_in_batches_not_by_requests(app: Flask) -> None:
    http = app.test_client()
    login(http, "clinician1")

    def last_active() -> Any:
        with app.app_context():
            return access.access_of(user_of(app, "clinician1").id).last_active_at

    at_login = last_active()
    assert at_login is not None
    for _ in range(3):
        assert http.get("/").status_code == 200
    assert last_active() == at_login  # the requests wrote nothing
    with app.app_context():
        assert access.staff_activity(app).flush(every=0) == 1  # one row for three requests
        assert access.staff_activity(app).flush(every=0) == 0  # nothing new
    assert last_active() > at_login
