"""Shared fixtures: a migrated database per backend, apps, clients and live servers.

SQLite always runs; PostgreSQL and Redis join when ``BACKOFFICE_TEST_DATABASE_URL`` and
``BACKOFFICE_TEST_REDIS_URL`` are set (CI sets both). Each test gets its own copy of a
database that the real migrations built once per session.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
PARTNER_PLUGINS = Path(__file__).parent / "partner_plugins"
TEST_PASSWORD = "Test-pass-123"
TEST_SECRET = "test-secret-key-not-for-production"
PG_URL = os.environ.get("BACKOFFICE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("BACKOFFICE_TEST_REDIS_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


def base_overrides(database_url: str, instance_dir: Path) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": TEST_SECRET,
        "INSTANCE_DIR": str(instance_dir),
        "ASYNC_MODE": "threading",
        "DEMO_PASSWORD": TEST_PASSWORD,
        "PLUGIN_STATE_TTL": 0.0,
        "RATELIMIT_ENABLED": False,
        "WAITING_ROOM_EXTERNAL_CODE": "demo-practice",
        "TESTING": True,
    }


def _pg_admin_url() -> str:
    return PG_URL.rsplit("/", 1)[0] + "/postgres"


def _pg_execute(sql: str) -> None:
    import psycopg2

    connection = psycopg2.connect(
        _pg_admin_url().replace("postgresql+psycopg2://", "postgresql://")
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


def _pg_database_url(name: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + name


@dataclass
class DatabaseFactory:
    """Makes fresh databases, each a copy of one that the migrations built."""

    root: Path
    templates: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)

    def _build_template(self, backend: str) -> str:
        from core import demo, migrate
        from core.app import create_app

        if backend == "sqlite":
            url = f"sqlite:///{self.root / 'template.db'}"
        else:
            name = f"bo_tpl_{uuid.uuid4().hex[:10]}"
            _pg_execute(f'CREATE DATABASE "{name}"')
            self.created.append(name)
            url = _pg_database_url(name)
        app = create_app(base_overrides(url, self.root / "instance"))
        with app.app_context():
            migrate.upgrade()
            demo.seed()
            from core.database import db

            db.session.remove()
            db.engine.dispose()
        return url

    def new(self, backend: str) -> str:
        if backend not in self.templates:
            self.templates[backend] = self._build_template(backend)
        template = self.templates[backend]
        if backend == "sqlite":
            target = self.root / f"db_{uuid.uuid4().hex[:10]}.sqlite"
            shutil.copy(template.removeprefix("sqlite:///"), target)
            return f"sqlite:///{target}"
        name = f"bo_t_{uuid.uuid4().hex[:10]}"
        template_name = template.rsplit("/", 1)[1]
        _pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
        self.created.append(name)
        return _pg_database_url(name)

    def empty(self, backend: str) -> str:
        """A database with no tables at all, for testing the migrations themselves."""
        if backend == "sqlite":
            return f"sqlite:///{self.root / f'empty_{uuid.uuid4().hex[:10]}.sqlite'}"
        name = f"bo_e_{uuid.uuid4().hex[:10]}"
        _pg_execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return _pg_database_url(name)

    def drop_all(self) -> None:
        for name in reversed(self.created):
            try:
                _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # leave it rather than fail the session
                print(f"could not drop {name}: {exc}", file=sys.stderr)


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


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = TEST_PASSWORD) -> Any:
    page = client.get("/login/")
    data = {"username": username, "password": password}
    if 'name="csrf_token"' in page.text:  # absent when a test turns CSRF off
        data["csrf_token"] = csrf_token_from(page.text)
    return client.post("/login/", data=data, follow_redirects=True)


@pytest.fixture
def partner_plugins(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the test partner distribution (a real dist-info with entry points) on sys.path."""
    monkeypatch.syspath_prepend(str(PARTNER_PLUGINS))
    for name in list(sys.modules):
        if name.startswith("bo_partner_"):
            del sys.modules[name]
    return PARTNER_PLUGINS


# --- live servers ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A real ``backoffice run`` process on a free port."""

    database_url: str
    instance_dir: Path
    async_mode: str = "threading"
    message_queue: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "BACKOFFICE_DATABASE_URL": self.database_url,
                "BACKOFFICE_SECRET_KEY": TEST_SECRET,
                "BACKOFFICE_INSTANCE_DIR": str(self.instance_dir),
                "BACKOFFICE_ASYNC_MODE": self.async_mode,
                "BACKOFFICE_PORT": str(self.port),
                "BACKOFFICE_SOCKETIO_MESSAGE_QUEUE": self.message_queue,
                "BACKOFFICE_RATELIMIT_ENABLED": "false",
                "BACKOFFICE_WAITING_ROOM_EXTERNAL_CODE": "demo-practice",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 120.0) -> LiveServer:
        """Start and wait until ``/health`` answers: about two seconds on a quiet machine;
        the bound is for a machine whose cores are busy, and only a server that never
        answers (or exits) fails here."""
        self.instance_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.instance_dir / f"server-{self.port}.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "run"],
            cwd=ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path else ""

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``backoffice ARGS`` against this server's database."""
        return subprocess.run(
            [sys.executable, "-m", "core.cli", *args],
            cwd=ROOT,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )


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


def live_login(base_url: str, username: str, password: str = TEST_PASSWORD) -> requests.Session:
    """A requests session logged in to a live server."""
    session = requests.Session()
    page = session.get(base_url + "/login/", timeout=10)
    response = session.post(
        base_url + "/login/",
        data={"username": username, "password": password, "csrf_token": csrf_token_from(page.text)},
        timeout=10,
    )
    assert response.status_code == 200, response.text[:500]
    return session


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        if IN_CI:
            pytest.fail("BACKOFFICE_TEST_REDIS_URL must be set in CI")
        pytest.skip("set BACKOFFICE_TEST_REDIS_URL to run the Redis tests")
    return REDIS_URL


# --- a Redis of a test's own ---------------------------------------------------------------


@dataclass
class OwnRedis:
    """A redis-server of this test's own on a free port, to stop and start again."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*command, "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not answer")

    def stop(self, *, kill: bool = False) -> None:
        """``kill``: SIGKILL, as a crash would, rather than a clean shutdown."""
        if self.process is not None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("redis-server must be installed in CI")
        pytest.skip("needs redis-server")
    server = OwnRedis().start()
    yield server
    server.stop()
