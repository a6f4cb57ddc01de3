"""Test machinery for the back office and its plugins (the host's and partners').

The fixtures live in :mod:`core.testing.plugin`, a pytest plugin this distribution
installs (entry point ``pytest11``: ``backoffice``), so a partner's tests get them with
no conftest. This module holds what they are made of, for tests that want the pieces:
databases copied from one the real migrations built, live servers, logins.

SQLite always; PostgreSQL when ``BACKOFFICE_TEST_DATABASE_URL`` is set; Redis when
``BACKOFFICE_TEST_REDIS_URL`` is set.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from flask import Flask
from flask.testing import FlaskClient

import core

#: Where ``python -m core.cli`` runs for live servers: the host's checkout (or site-packages).
HOST_ROOT = Path(core.__file__).resolve().parent.parent
TEST_PASSWORD = "Test-pass-123"
TEST_SECRET = "test-secret-key-not-for-production"
PG_URL = os.environ.get("BACKOFFICE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("BACKOFFICE_TEST_REDIS_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
#: The demo practice's login for each role (every one's password is ``TEST_PASSWORD``).
ROLE_USERS = {
    "Admin": "admin",
    "Security Admin": "secadmin",
    "Practice Admin": "practiceadmin",
    "Clinician": "clinician1",
    "Staff": "frontdesk",
}


#: The practice's join code in every test database (``/wait/demo-practice``).
PRACTICE_CODE = "demo-practice"


def base_overrides(database_url: str, instance_dir: Path) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": TEST_SECRET,
        "INSTANCE_DIR": str(instance_dir),
        "ASYNC_MODE": "threading",
        "DEMO_PASSWORD": TEST_PASSWORD,
        "PLUGIN_STATE_TTL": 0.0,
        "RATELIMIT_ENABLED": False,
        "WAITING_ROOM_EXTERNAL_CODE": PRACTICE_CODE,
        "TESTING": True,
    }


def _pg_admin_url() -> str:
    return PG_URL.rsplit("/", 1)[0] + "/postgres"


def _pg_execute(sql: str) -> None:
    import psycopg2  # type: ignore[import-untyped]

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
    #: The interpreter it runs under, e.g. a :class:`PluginEnvironment`'s.
    python: str = sys.executable
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
                "BACKOFFICE_WAITING_ROOM_EXTERNAL_CODE": PRACTICE_CODE,
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
            [self.python, "-m", "core.cli", "run"],
            cwd=HOST_ROOT,
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
            [self.python, "-m", "core.cli", *args],
            cwd=HOST_ROOT,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )


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


@contextmanager
def unchecked_domain_events(app: Flask) -> Iterator[None]:
    """Let through domain events that break the catalogue (they are logged instead), for
    a test that feeds a listener a partial or malformed payload on purpose."""
    plugins = app.extensions["backoffice.plugins"]
    before = plugins.strict_events
    plugins.strict_events = False
    try:
        yield
    finally:
        plugins.strict_events = before


@dataclass
class PluginEnvironment:
    """A throwaway virtualenv that sees the host's installed packages (a ``.pth`` file adds
    the host environment's site-packages) and gets a partner's project with a real
    ``pip install``: what a practice does, without touching the host's environment."""

    root: Path
    host_site: str = field(default_factory=lambda: sysconfig.get_paths()["purelib"])

    @property
    def python(self) -> str:
        return str(self.root / "bin" / "python")

    def create(self) -> PluginEnvironment:
        venv.EnvBuilder(with_pip=False, symlinks=True).create(self.root)
        site = self.run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        pth = Path(site.stdout.strip()) / "_backoffice_host.pth"
        pth.write_text(f"import site; site.addsitedir({self.host_site!r})\n", encoding="utf-8")
        return self

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        """``python ARGS`` in this environment; fails with the output when it exits non-zero."""
        done = subprocess.run(
            [self.python, *args],
            cwd=cwd,
            env={**os.environ, "PYTHONNOUSERSITE": "1", **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-4000:]}"
                f"\n{done.stderr[-4000:]}"
            )
        return done

    def pip_install(self, project: Path, *, editable: bool = False) -> None:
        """Build and install ``project`` offline (the host already brings its dependencies)."""
        flags = ["--no-deps", "--no-build-isolation", "--no-index", "--disable-pip-version-check"]
        target = ["-e", str(project)] if editable else [str(project)]
        self.run("-m", "pip", "install", "--quiet", *flags, *target)

    def backoffice(self, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "core.cli", *args, env=env)
