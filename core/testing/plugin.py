"""The back office's pytest plugin (entry point ``pytest11``: ``backoffice``).

Installed with the host, so a partner's plugin tests need no conftest. Name the plugin
under test once, in ``pytest.ini``/``pyproject.toml``::

    [tool.pytest.ini_options]
    backoffice_plugin = "intake"

(or override the ``plugin_under_test`` fixture). The fixtures:

- ``databases``, ``backend``, ``database_url``: a database per test, copied from one the
  real migrations built (SQLite; PostgreSQL too when ``BACKOFFICE_TEST_DATABASE_URL`` is
  set: every test then runs on both);
- ``make_app``, ``app``, ``client``: apps on that database; ``plugin_app``: the app with
  the plugin under test loaded, migrated and enabled;
- ``login_as`` and ``admin_client`` … ``staff_client``: test clients logged in per role;
- ``patient_token``, ``staff_socket``, ``patient_socket``: Socket.IO test clients for
  ``/staff`` and ``/patient``;
- ``outbox`` (every email and SMS the app recorded) and ``smtp_capture`` (a real aiosmtpd
  server; pass ``smtp_capture.config`` to ``make_app``);
- ``live_server_factory``, ``live_server``, ``redis_url``, ``own_redis``;
- ``plugin_environment``: a throwaway virtualenv that sees the host's packages, for a
  real ``pip install`` of a plugin project (``LiveServer(python=env.python, ...)``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.testing import (
    BACKENDS,
    IN_CI,
    REDIS_URL,
    ROLE_USERS,
    DatabaseFactory,
    LiveServer,
    OwnRedis,
    PluginEnvironment,
    base_overrides,
    free_port,
    login,
)

INI_PLUGIN = "backoffice_plugin"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(INI_PLUGIN, "name of the back-office plugin these tests are about", default="")


# --- databases and apps ------------------------------------------------------------


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(root=tmp_path_factory.mktemp("databases"))
    yield factory
    factory.drop_all()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(databases: DatabaseFactory, backend: str) -> str:
    return databases.new(backend)


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on this test's database; extra config as keyword arguments."""
    built: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        from core.app import create_app

        app = create_app({**base_overrides(database_url, tmp_path / "instance"), **overrides})
        built.append(app)
        return app

    yield make
    from core.database import db

    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def plugin_under_test(request: pytest.FixtureRequest) -> str | None:
    """The plugin these tests are about: the ``backoffice_plugin`` ini option."""
    return str(request.config.getini(INI_PLUGIN)) or None


def prepare_plugin(app: Flask, name: str) -> None:
    """What ``backoffice db upgrade`` and an admin's switch do for a newly installed
    plugin: migrate its branch, sync its permissions and grants, switch it on. Fails the
    test with the plugin's traceback when it did not load."""
    from core import migrate, roles
    from core.app import set_plugin_enabled
    from core.database import db
    from core.plugins import plugin_manager

    with app.app_context():
        plugins = plugin_manager()
        record = plugins.records.get(name)
        if record is None:
            pytest.fail(f"plugin {name!r} is not installed (no backoffice.plugins entry point)")
        if record.failed:
            pytest.fail(f"plugin {name!r} failed to load:\n{record.error}")
        migrate.upgrade()
        db.session.remove()
        if not roles.in_sync():
            roles.sync()
        if not plugins.states.is_enabled(name):
            set_plugin_enabled(name, True, actor="test")
        db.session.remove()


@pytest.fixture
def plugin_app(app: Flask, plugin_under_test: str | None) -> Flask:
    """The app with the plugin under test installed, migrated and enabled."""
    if plugin_under_test is not None:
        prepare_plugin(app, plugin_under_test)
    return app


# --- logins ---------------------------------------------------------------------------


@pytest.fixture
def login_as(plugin_app: Flask) -> Callable[[str], FlaskClient]:
    """``login_as("Clinician")`` (a role of the demo practice) or ``login_as("clinician2")``
    (a username): a new test client, logged in."""

    def make(who: str) -> FlaskClient:
        username = ROLE_USERS.get(who, who)
        client = plugin_app.test_client()
        response = login(client, username)
        assert response.status_code == 200, response.text[:500]
        assert "/login/" not in response.request.path, f"{username} could not log in"
        return client

    return make


@pytest.fixture
def admin_client(login_as: Callable[[str], FlaskClient]) -> FlaskClient:
    return login_as("Admin")


@pytest.fixture
def security_admin_client(login_as: Callable[[str], FlaskClient]) -> FlaskClient:
    return login_as("Security Admin")


@pytest.fixture
def practice_admin_client(login_as: Callable[[str], FlaskClient]) -> FlaskClient:
    return login_as("Practice Admin")


@pytest.fixture
def clinician_client(login_as: Callable[[str], FlaskClient]) -> FlaskClient:
    return login_as("Clinician")


@pytest.fixture
def staff_client(login_as: Callable[[str], FlaskClient]) -> FlaskClient:
    """The front desk (role Staff)."""
    return login_as("Staff")


# --- Socket.IO ------------------------------------------------------------------------


@pytest.fixture
def make_patient_token(plugin_app: Flask) -> Callable[..., str]:
    """``make_patient_token(**claims)``: a signed patient token with a fresh subject."""

    def make(**claims: Any) -> str:
        from core.tokens import new_patient_token

        with plugin_app.app_context():
            return new_patient_token(**claims)

    return make


@pytest.fixture
def patient_token(make_patient_token: Callable[..., str]) -> str:
    return make_patient_token()


@pytest.fixture
def staff_socket(plugin_app: Flask, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``staff_socket(client=None)``: a Flask-SocketIO test client on ``/staff`` for a
    logged-in test client (default: this test's ``admin_client``). ``sio.emit(event,
    payload, namespace="/staff", callback=True)`` returns the acknowledgement. One live
    login per username: a second login of the same user ends the first one's session."""
    from core.realtime import socketio_of

    opened: list[Any] = []

    def connect(client: FlaskClient | None = None) -> Any:
        logged_in = client or request.getfixturevalue("admin_client")
        sio = socketio_of(plugin_app).test_client(
            plugin_app, namespace="/staff", flask_test_client=logged_in
        )
        assert sio.is_connected("/staff"), "the staff socket was refused"
        opened.append(sio)
        return sio

    yield connect
    for sio in opened:
        if sio.is_connected("/staff"):
            sio.disconnect(namespace="/staff")


@pytest.fixture
def patient_socket(
    plugin_app: Flask, make_patient_token: Callable[..., str]
) -> Iterator[Callable[..., Any]]:
    """``patient_socket(token=None)``: a test client on ``/patient`` holding ``token``
    (default: a fresh patient token)."""
    from core.realtime import socketio_of

    opened: list[Any] = []

    def connect(token: str | None = None) -> Any:
        sio = socketio_of(plugin_app).test_client(
            plugin_app, namespace="/patient", auth={"token": token or make_patient_token()}
        )
        assert sio.is_connected("/patient"), "the patient socket was refused"
        opened.append(sio)
        return sio

    yield connect
    for sio in opened:
        if sio.is_connected("/patient"):
            sio.disconnect(namespace="/patient")


# --- messages -------------------------------------------------------------------------


@dataclass
class Outbox:
    """Every email and SMS the app recorded (sent, failed or only kept in the outbox)."""

    app: Flask

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from core.database import db
        from core.models import OutboundMessage

        query = select(OutboundMessage).order_by(OutboundMessage.id)
        if channel is not None:
            query = query.where(OutboundMessage.channel == channel)
        with self.app.app_context():
            rows = db.session.scalars(query).all()
            found = [
                {
                    "channel": m.channel,
                    "to": m.recipient,
                    "subject": m.subject,
                    "body": m.body,
                    "status": m.status,
                    "source": m.source,
                }
                for m in rows
            ]
            db.session.remove()
        return found

    @property
    def sms(self) -> list[dict[str, Any]]:
        return self.messages("sms")

    @property
    def emails(self) -> list[dict[str, Any]]:
        return self.messages("email")


@pytest.fixture
def outbox(plugin_app: Flask) -> Outbox:
    return Outbox(plugin_app)


@dataclass
class SmtpCapture:
    """A real SMTP server (aiosmtpd) on a free port that keeps what it is sent."""

    host: str
    port: int
    received: list[EmailMessage] = field(default_factory=list)

    @property
    def config(self) -> dict[str, Any]:
        """App config that sends mail here: ``make_app(**smtp_capture.config)``."""
        return {
            "MAIL_SERVER": self.host,
            "MAIL_PORT": self.port,
            "MAIL_USE_TLS": False,
            "MAIL_SUPPRESS_SEND": False,  # Flask-Mail suppresses under TESTING otherwise
            "MAIL_DEFAULT_SENDER": "Test Practice <practice@test.example.org>",
        }

    def messages(self) -> list[EmailMessage]:
        """What the server has been sent so far, oldest first."""
        return list(self.received)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=default_policy)
        self.received.append(cast(EmailMessage, message))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_capture() -> Iterator[SmtpCapture]:
    from aiosmtpd.controller import Controller

    capture = SmtpCapture(host="127.0.0.1", port=free_port())
    controller = Controller(capture, hostname=capture.host, port=capture.port)
    controller.start()
    try:
        yield capture
    finally:
        controller.stop()


# --- live servers and Redis -----------------------------------------------------------


@pytest.fixture
def live_server_factory(
    databases: DatabaseFactory, tmp_path: Path
) -> Iterator[Callable[..., LiveServer]]:
    """Start live servers: ``factory(async_mode=..., backend=..., database_url=...)``."""
    servers: list[LiveServer] = []

    def factory(
        async_mode: str = "threading",
        backend: str = "sqlite",
        database_url: str | None = None,
        message_queue: str = "",
        **extra_env: str,
    ) -> LiveServer:
        server = LiveServer(
            database_url=database_url or databases.new(backend),
            instance_dir=tmp_path / f"live{len(servers)}",
            async_mode=async_mode,
            message_queue=message_queue,
            extra_env=extra_env,
        )
        servers.append(server)
        return server.start()

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory()


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        if IN_CI:
            pytest.fail("BACKOFFICE_TEST_REDIS_URL must be set in CI")
        pytest.skip("set BACKOFFICE_TEST_REDIS_URL to run the Redis tests")
    return REDIS_URL


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("redis-server must be installed in CI")
        pytest.skip("needs redis-server")
    server = OwnRedis().start()
    yield server
    server.stop()


@pytest.fixture
def plugin_environment(tmp_path: Path) -> PluginEnvironment:
    return PluginEnvironment(tmp_path / "venv").create()
