"""Async Socket.IO and HTTP clients that act as patient pages and staff dashboards.

Thousands run in one asyncio process. Every failure is counted in a :class:`Tally`
(failed HTTP requests, refused connections, non-ok acks, timeouts, dropped sockets)
rather than raised, so that a slow or stalled server gives figures, not a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

STAFF = "/staff"
PATIENT = "/patient"
DEFAULT_HEARTBEAT = 15.0
DEVICE_CHECK = {
    "camera": True,
    "microphone": True,
    "latency_ms": 12.0,
    "socket_latency_ms": 8.0,
    "browser": "bench (python-socketio AsyncClient)",
}
CSRF = re.compile(r'data-csrf="([^"]*)"')


@dataclass(frozen=True)
class Limits:
    """Seconds any one step may take before it counts as a timeout."""

    http: float = 30.0
    connect: float = 20.0
    ack: float = 20.0
    close: float = 5.0


@dataclass
class Tally:
    """Errors by kind, with the first few messages kept for the report."""

    counts: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def error(self, kind: str, detail: object) -> None:
        self.counts[kind] += 1
        if len(self.samples) < 8:
            self.samples.append(f"{kind}: {detail}"[:300])

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def new_client(headers: dict[str, str] | None = None) -> socketio.AsyncClient:
    # Headers go in websocket_extra_options: engineio would move a Cookie header into an
    # aiohttp cookie jar, which sends nothing to an IP address such as 127.0.0.1.
    return socketio.AsyncClient(
        reconnection=False,
        handle_sigint=False,
        websocket_extra_options={"headers": dict(headers or {})},
    )


async def connect(
    client: socketio.AsyncClient,
    url: str,
    namespace: str,
    tally: Tally,
    limits: Limits,
    auth: dict[str, Any] | None = None,
) -> bool:
    try:
        await asyncio.wait_for(
            client.connect(
                url,
                namespaces=[namespace],
                auth=auth,
                transports=["websocket"],
                wait_timeout=limits.connect,
            ),
            limits.connect + 5,
        )
    except TimeoutError:
        tally.error("timeout", f"connect {namespace}")
        return False
    except Exception as exc:
        tally.error("connect", f"{namespace}: {exc!r}")
        return False
    return True


async def call(
    client: socketio.AsyncClient,
    event: str,
    data: dict[str, Any],
    namespace: str,
    tally: Tally,
    limits: Limits,
) -> dict[str, Any] | None:
    """The ack's ``data`` for an ok ack; None (and a counted error) for anything else."""
    try:
        ack = await client.call(event, data, namespace=namespace, timeout=limits.ack)
    except socketio.exceptions.TimeoutError:
        tally.error("timeout", event)
        return None
    except Exception as exc:
        tally.error("call", f"{event}: {exc!r}")
        return None
    if not isinstance(ack, dict) or ack.get("ok") is not True:
        tally.error("nack", f"{event}: {ack!r}")
        return None
    result = ack.get("data")
    return result if isinstance(result, dict) else {}


async def close(client: socketio.AsyncClient | None, limits: Limits) -> None:
    """Disconnect politely if the server answers in time, else drop the connection."""
    if client is None:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), limits.close)
    http = getattr(client.eio, "http", None)  # engineio's own aiohttp session
    if http is not None and not http.closed:
        with contextlib.suppress(Exception):
            await http.close()


@dataclass
class Dashboard:
    """A staff member's live waiting room page: snapshot, then ``waiting_room.update``s."""

    url: str
    cookie: str
    tally: Tally
    limits: Limits
    #: entry id of each ``arrived`` update and when it came (perf_counter seconds)
    arrivals: dict[int, float] = field(default_factory=dict)
    client: socketio.AsyncClient | None = None
    closing: bool = False

    async def open(self) -> bool:
        self.client = new_client({"Cookie": self.cookie} if self.cookie else None)
        self.client.on("waiting_room.update", self._on_update, namespace=STAFF)
        self.client.on("disconnect", self._on_disconnect, namespace=STAFF)
        if not await connect(self.client, self.url, STAFF, self.tally, self.limits):
            return False
        snapshot = await call(
            self.client, "waiting_room.snapshot", {"scope": "all"}, STAFF, self.tally, self.limits
        )
        return snapshot is not None

    def _on_update(self, data: Any = None) -> None:
        at = time.perf_counter()
        if isinstance(data, dict) and data.get("kind") == "arrived":
            self.arrivals.setdefault(int(data["entry"]["id"]), at)

    def _on_disconnect(self, *reason: Any) -> None:
        if not self.closing:
            self.tally.error("disconnect", f"dashboard {reason}")

    async def close(self) -> None:
        self.closing = True
        await close(self.client, self.limits)


@dataclass
class Patient:
    """A patient's page: join page, check-in, socket, device check, heartbeats."""

    url: str
    code: str
    name: str
    tally: Tally
    limits: Limits
    entry_id: int | None = None
    posted_at: float | None = None  # perf_counter seconds when the check-in POST was sent
    post_seconds: float | None = None
    cookie: str = ""  # the join page's session cookie, sent with the socket too
    served_by: str = ""  # nginx's X-Upstream for the check-in, when behind nginx
    heartbeat_s: float = DEFAULT_HEARTBEAT
    #: (sent at, seconds to the ack; the ack timeout for a heartbeat that got none)
    heartbeats: list[tuple[float, float]] = field(default_factory=list)
    beat_sent_at: float | None = None  # while a heartbeat waits for its ack
    client: socketio.AsyncClient | None = None
    closing: bool = False
    view: dict[str, Any] | None = None  # the last whole status view

    async def check_in(self) -> str | None:
        """Open the join page and post the form, as patient.js does; the token, or None."""
        timeout = aiohttp.ClientTimeout(total=self.limits.http)
        jar = aiohttp.CookieJar(unsafe=True)  # keep the session cookie of 127.0.0.1
        try:
            async with aiohttp.ClientSession(timeout=timeout, cookie_jar=jar) as http:
                csrf = await self._join_page(http)
                body = None if csrf is None else await self._post_check_in(http, csrf)
        except TimeoutError:
            self.tally.error("timeout", "check-in HTTP")
            return None
        except Exception as exc:
            self.tally.error("http", f"check-in: {exc!r}")
            return None
        if body is None:
            return None
        self.cookie = "; ".join(f"{cookie.key}={cookie.value}" for cookie in jar)
        self.entry_id = int(body["entry_id"])
        return str(body["token"])

    @property
    def page_url(self) -> str:
        return f"{self.url}/wait/{self.code}"

    async def _join_page(self, http: aiohttp.ClientSession) -> str | None:
        """The page's CSRF token (its session cookie stays in the jar), or None."""
        async with http.get(self.page_url) as page:
            html = await page.text()
        if page.status != 200:
            self.tally.error("http", f"GET join page: {page.status}")
            return None
        match = CSRF.search(html)
        return match.group(1) if match else ""

    async def _post_check_in(self, http: aiohttp.ClientSession, csrf: str) -> dict[str, Any] | None:
        self.posted_at = time.perf_counter()
        async with http.post(
            self.page_url + "/enter", json={"name": self.name}, headers={"X-CSRFToken": csrf}
        ) as answer:
            text = await answer.text()
        self.post_seconds = time.perf_counter() - self.posted_at
        self.served_by = answer.headers.get("X-Upstream", "")
        if answer.status not in (200, 201):
            self.tally.error("http", f"POST check-in: {answer.status} {text[:200]!r}")
            return None
        body: dict[str, Any] = json.loads(text)
        return body

    async def join(self, token: str) -> bool:
        """Connect the page's socket, send the device check and the first status."""
        self.client = new_client({"Cookie": self.cookie} if self.cookie else None)
        self.client.on("disconnect", self._on_disconnect, namespace=PATIENT)
        if not await connect(
            self.client, self.url, PATIENT, self.tally, self.limits, auth={"token": token}
        ):
            return False
        checked = await call(
            self.client, "waiting_room.device_check", DEVICE_CHECK, PATIENT, self.tally, self.limits
        )
        view = await call(self.client, "waiting_room.status", {}, PATIENT, self.tally, self.limits)
        if view is not None and view.get("heartbeat"):
            self.heartbeat_s = float(view["heartbeat"])
        self.view = view
        return checked is not None and view is not None

    def known(self) -> dict[str, Any]:
        """What patient.js sends with a heartbeat: the entry's version its view holds, so
        an unchanged entry is answered without its chat."""
        view = self.view
        return {"known": view["entry_version"] if view and view.get("live") else None}

    async def heartbeat_forever(self) -> None:
        """``waiting_room.status`` every heartbeat interval, each ack timed; until cancelled."""
        assert self.client is not None
        while self.client.connected:
            # patient.js and its ticker beat after 85-100 % of the interval, drawn anew.
            await asyncio.sleep(self.heartbeat_s * random.uniform(0.85, 1.0))
            self.beat_sent_at = sent = time.perf_counter()
            view = await call(
                self.client, "waiting_room.status", self.known(), PATIENT, self.tally, self.limits
            )
            if view is not None and not view.get("unchanged"):
                self.view = view
            self.beat_sent_at = None
            waited = time.perf_counter() - sent
            if view is not None or waited >= self.limits.ack:  # a timeout counts as its limit
                self.heartbeats.append((sent, waited))

    def _on_disconnect(self, *reason: Any) -> None:
        if not self.closing:
            self.tally.error("disconnect", f"patient {reason}")

    async def close(self) -> None:
        self.closing = True
        await close(self.client, self.limits)
