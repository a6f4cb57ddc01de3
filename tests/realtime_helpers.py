"""Socket.IO clients for tests against live servers, and small waiting helpers."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
import socketio
from sqlalchemy import Engine, create_engine

STAFF = "/staff"
PATIENT = "/patient"
# Bounds for a busy machine: a healthy server answers in milliseconds.
ACK_TIMEOUT = 20.0
CONNECT_TIMEOUT = 20.0

T = TypeVar("T")


def cookie_header(session: requests.Session) -> str:
    """The ``Cookie`` header a browser would send with this logged-in session."""
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


def poll(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float,
    interval: float = 0.05,
) -> tuple[T, float]:
    """Call ``probe`` until ``done(result)``; return the result and the seconds it took.

    Fails the test with the last result when ``timeout`` seconds pass first.
    """
    start = time.monotonic()
    while True:
        result = probe()
        elapsed = time.monotonic() - start
        if done(result):
            return result, elapsed
        if elapsed >= timeout:
            raise AssertionError(f"not done after {elapsed:.2f}s; last result: {result!r}")
        time.sleep(interval)


@dataclass
class Watch:
    """Everything one namespace of a client received: events, refusals, disconnects."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    connect_errors: list[Any] = field(default_factory=list)
    disconnects: list[Any] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def attach(self, client: socketio.Client, namespace: str) -> None:
        client.on("*", self._on_event, namespace=namespace)
        client.on("connect_error", self._on_connect_error, namespace=namespace)
        client.on("disconnect", self._on_disconnect, namespace=namespace)

    def _on_event(self, event: str, data: Any = None, *_rest: Any) -> None:
        with self._changed:
            self.events.append((event, data))
            self._changed.notify_all()

    def _on_connect_error(self, data: Any = None) -> None:
        self.connect_errors.append(data)

    def _on_disconnect(self, *reason: Any) -> None:
        self.disconnects.append(reason)

    def wait_for(
        self, name: str, timeout: float, match: Callable[[Any], bool] = lambda _data: True
    ) -> tuple[Any, float]:
        """The data of the first ``name`` event that ``match``es, and the seconds waited."""
        start = time.monotonic()
        deadline = start + timeout
        with self._changed:
            while True:
                for event, data in self.events:
                    if event == name and match(data):
                        return data, time.monotonic() - start
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no matching {name!r} within {timeout}s; received: {self.events!r}"
                    )
                self._changed.wait(left)


@dataclass
class Connection:
    client: socketio.Client
    namespace: str
    watch: Watch

    def call(self, event: str, data: Any = None) -> dict[str, Any]:
        """Send an event and return its acknowledgement."""
        ack = self.client.call(event, data, namespace=self.namespace, timeout=ACK_TIMEOUT)
        assert isinstance(ack, dict), f"{event}: the ack is not an object: {ack!r}"
        return ack

    @property
    def sid(self) -> str | None:
        sid: str | None = self.client.get_sid(self.namespace)
        return sid


class Refused(Exception):
    """A connection attempt that the server turned down."""

    def __init__(self, error: socketio.exceptions.ConnectionError, watch: Watch) -> None:
        super().__init__(str(error))
        self.error = error
        self.watch = watch

    @property
    def by_namespace(self) -> bool:
        """True when the Socket.IO namespace refused; False for an Engine.IO/HTTP refusal."""
        return "namespaces failed to connect" in str(self.error)


class Clients:
    """Opens Socket.IO connections and closes them all at the end of a test."""

    def __init__(self) -> None:
        self._opened: list[socketio.Client] = []

    def connect(
        self,
        url: str,
        namespace: str,
        *,
        session: requests.Session | None = None,
        auth: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        transport: str = "websocket",
        origin: str | None = None,
    ) -> Connection:
        """Connect, or raise :class:`Refused`. ``origin`` replaces websocket-client's own
        ``Origin`` header (passing it in ``headers`` would send two)."""
        extra = {"origin": origin} if origin is not None else {}
        client = socketio.Client(reconnection=False, websocket_extra_options=extra)
        self._opened.append(client)
        watch = Watch()
        watch.attach(client, namespace)
        all_headers = dict(headers or {})
        if session is not None:
            all_headers["Cookie"] = cookie_header(session)
        try:
            client.connect(
                url,
                namespaces=[namespace],
                headers=all_headers,
                auth=auth,
                transports=[transport],
                wait_timeout=CONNECT_TIMEOUT,
            )
        except socketio.exceptions.ConnectionError as exc:
            raise Refused(exc, watch) from exc
        return Connection(client, namespace, watch)

    def staff(self, url: str, session: requests.Session, **options: Any) -> Connection:
        return self.connect(url, STAFF, session=session, **options)

    def patient(self, url: str, token: str, **options: Any) -> Connection:
        return self.connect(url, PATIENT, auth={"token": token}, **options)

    def refused(self, url: str, namespace: str, **options: Any) -> Refused:
        """Expect the connection to be turned down; return why."""
        try:
            connection = self.connect(url, namespace, **options)
        except Refused as refused:
            return refused
        raise AssertionError(f"the server accepted a connection to {namespace}: {connection!r}")

    def close(self) -> None:
        for client in self._opened:
            with contextlib.suppress(Exception):  # already gone
                client.disconnect()
        self._opened.clear()


@contextmanager
def database(url: str) -> Iterator[Engine]:
    """An engine on a live server's database, as the server itself would open it."""
    from core.app import normalise_database_url

    engine = create_engine(normalise_database_url(url))
    try:
        yield engine
    finally:
        engine.dispose()
