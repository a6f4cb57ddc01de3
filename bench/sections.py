"""The bench's sections: each starts its own servers, runs a load and returns figures."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import requests

from bench.clients import Limits, Tally
from bench.databases import BenchDatabases
from bench.load import ArrivalRun, Crowd, Target, run_arrivals
from bench.make_db import staff_username
from bench.procs import rss_mb
from bench.reports import reports
from bench.servers import JOIN_CODE, NGINX, BareServer, BenchServer, Nginx
from bench.sizes import Sizes
from bench.stats import median_ms, percentile_ms, ratio
from tests.conftest import PG_URL, live_login
from tests.realtime_helpers import cookie_header

ASYNC_MODES = ("eventlet", "gevent", "threading")
REDIS_URL_DEFAULT = "redis://127.0.0.1:6379/0"
FILL_PARALLEL = 8
WARM_UP_REQUESTS = 5
MODE_KEYS = ("arrival_p99_ms", "baseline_p99_ms", "ratio_p99", "errors", "delivered", "expected")


class Process(Protocol):
    def start(self) -> object: ...
    def stop(self) -> None: ...


P = TypeVar("P", bound=Process)


def started(stack: ExitStack, process: P) -> P:
    """Start ``process`` and make sure ``stack`` stops it, whatever happens next."""
    stack.callback(process.stop)
    process.start()
    return process


@dataclass
class Context:
    sizes: Sizes
    server_root: Path
    workdir: Path
    databases: BenchDatabases
    limits: Limits = field(default_factory=Limits)
    redis_url: str = REDIS_URL_DEFAULT
    servers: int = 0

    def product(
        self, database_url: str, async_mode: str = "eventlet", message_queue: str = "", **env: str
    ) -> BenchServer:
        self.servers += 1
        return BenchServer(
            database_url=database_url,
            instance_dir=self.workdir / f"server{self.servers}",
            async_mode=async_mode,
            message_queue=message_queue,
            extra_env=env,
            server_root=self.server_root,
        )

    def bare(self, async_mode: str) -> BareServer:
        return BareServer(async_mode, self.workdir / "bare")


def staff_cookies(url: str, count: int) -> list[str]:
    """One logged-in session per dashboard (a second login of a user ends the first)."""
    return [cookie_header(live_login(url, staff_username(n))) for n in range(1, count + 1)]


def show_errors(label: str, tally: Tally) -> None:
    if tally.total:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(tally.counts.items()))
        print(f"  {label}: {tally.total} errors ({kinds})")
        for sample in tally.samples[:4]:
            print(f"    {sample}")


# --- arrivals ----------------------------------------------------------------------


def arrivals_on(ctx: Context, target: Target, patients: int, label: str) -> ArrivalRun:
    sizes = ctx.sizes
    print(f"  {label}: {patients} arrivals at {sizes.rate:g}/s, {len(target.cookies)} dashboards")
    run = asyncio.run(run_arrivals(target, patients, sizes.rate, ctx.limits, sizes.drain_s))
    show_errors(label, run.tally)
    return run


def product_arrivals(
    ctx: Context, backend: str, async_mode: str, patients: int, dashboards: int
) -> ArrivalRun:
    with ExitStack() as stack:
        server = started(stack, ctx.product(ctx.databases.new(backend), async_mode))
        target = Target(server.url, server.url, staff_cookies(server.url, dashboards), [server.pid])
        return arrivals_on(ctx, target, patients, f"product {async_mode}/{backend}")


def bare_arrivals(ctx: Context, async_mode: str, patients: int, dashboards: int) -> ArrivalRun:
    with ExitStack() as stack:
        bare = started(stack, ctx.bare(async_mode))
        target = Target(bare.url, bare.url, [""] * dashboards, [bare.pid])
        return arrivals_on(ctx, target, patients, f"bare {async_mode}")


def cpu_ms_per_arrival(run: ArrivalRun) -> float | None:
    return round(1000 * run.cpu_s / len(run.patients), 2) if run.patients else None


def arrival_figures(
    ctx: Context, backend: str, async_mode: str, patients: int, dashboards: int
) -> dict[str, Any]:
    product = product_arrivals(ctx, backend, async_mode, patients, dashboards)
    bare = bare_arrivals(ctx, async_mode, patients, dashboards)
    latencies, baseline = product.latencies(), bare.latencies()
    p99, baseline_p99 = percentile_ms(latencies, 99), percentile_ms(baseline, 99)
    return {
        "async_mode": async_mode,
        "database": backend,
        "patients": patients,
        "dashboards": dashboards,
        "rate": ctx.sizes.rate,
        "delivered": len(latencies),
        "expected": product.expected,
        "errors": product.tally.total,
        "arrival_p50_ms": percentile_ms(latencies, 50),
        "arrival_p95_ms": percentile_ms(latencies, 95),
        "arrival_p99_ms": p99,
        "baseline_p99_ms": baseline_p99,
        "ratio_p99": ratio(p99, baseline_p99),
        "cpu_ms_per_arrival": cpu_ms_per_arrival(product),
        "baseline_cpu_ms_per_arrival": cpu_ms_per_arrival(bare),
    }


def waiting_room(ctx: Context) -> dict[str, Any]:
    return arrival_figures(ctx, "sqlite", "eventlet", ctx.sizes.patients, ctx.sizes.dashboards)


def waiting_room_postgresql(ctx: Context) -> dict[str, Any] | str:
    if not PG_URL:
        return "skipped: BACKOFFICE_TEST_DATABASE_URL is not set"
    sizes = ctx.sizes
    return arrival_figures(ctx, "postgresql", "eventlet", sizes.patients, sizes.dashboards)


def modes(ctx: Context) -> dict[str, Any]:
    sizes, figures = ctx.sizes, {}
    for mode in ASYNC_MODES:
        run = arrival_figures(ctx, "sqlite", mode, sizes.mode_patients, sizes.mode_dashboards)
        figures[mode] = {key: run[key] for key in MODE_KEYS}
    return figures


# --- a queue of waiting patients ------------------------------------------------------


async def queue_load(ctx: Context, server: BenchServer) -> dict[str, Any]:
    sizes = ctx.sizes
    crowd = Crowd(server.url, Tally(), ctx.limits)
    try:
        await crowd.fill(10, parallel=1, within=sizes.queue_fill_s)
        at_10 = await crowd.probe(sizes.probes)
        print(f"  filling the queue to {sizes.queue_waiting} (at most {sizes.queue_fill_s:.0f}s)")
        began = time.monotonic()
        await crowd.fill(sizes.queue_waiting, FILL_PARALLEL, sizes.queue_fill_s)
        waiting = crowd.connected
        print(f"  {waiting} waiting after {time.monotonic() - began:.0f}s; quiet window")
        heartbeats, cpu_percent = await crowd.quiet_window([server.pid], sizes.queue_window_s)
        at_waiting = await crowd.probe(sizes.probes)
        heartbeat_s = crowd.joined[0].heartbeat_s if crowd.joined else None
    finally:
        await crowd.close()
    show_errors("queue", crowd.tally)
    return {
        "waiting": waiting,
        "heartbeat_p99_ms": percentile_ms(heartbeats, 99),
        # The harness's own share: its event loop's lag while the acks came in.
        "client_loop_lag_p99_ms": percentile_ms(crowd.lags, 99),
        "checkin_ms_at_10": median_ms(at_10),
        "checkin_ms_at_waiting": median_ms(at_waiting),
        "idle_cpu_percent": round(cpu_percent, 1),
        "heartbeat_s": heartbeat_s,  # the product's own interval, as its status view says
        "heartbeats": len(heartbeats),
        "errors": crowd.tally.total,
    }


def queue(ctx: Context) -> dict[str, Any]:
    with ExitStack() as stack:
        server = started(stack, ctx.product(ctx.databases.new("sqlite"), "eventlet"))
        return asyncio.run(queue_load(ctx, server))


async def hold_connections(ctx: Context, server: BenchServer) -> dict[str, Any]:
    sizes = ctx.sizes
    crowd = Crowd(server.url, Tally(), ctx.limits)
    before = rss_mb(server.pid)
    try:
        print(f"  opening {sizes.connections} patient sockets")
        await crowd.fill(sizes.connections, FILL_PARALLEL, sizes.connections_fill_s)
        await asyncio.sleep(sizes.held_s)
        after, connections = rss_mb(server.pid), crowd.connected
    finally:
        await crowd.close()
    show_errors("concurrency", crowd.tally)
    grown_kb = (after - before) * 1024
    return {
        "connections": connections,
        "held_s": sizes.held_s,
        "errors": crowd.tally.total,
        "rss_mb": {"before": round(before, 1), "after": round(after, 1)},
        "kb_per_connection": round(grown_kb / connections, 1) if connections else None,
    }


def concurrency(ctx: Context) -> dict[str, Any]:
    with ExitStack() as stack:
        server = started(stack, ctx.product(ctx.databases.new("sqlite"), "eventlet"))
        return asyncio.run(hold_connections(ctx, server))


# --- two workers behind nginx -------------------------------------------------------------


def missing_for_multi_worker(redis_url: str) -> str | None:
    if not PG_URL:
        return "BACKOFFICE_TEST_DATABASE_URL is not set"
    if not NGINX.exists():
        return f"{NGINX} is not installed"
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis at {redis_url} does not answer: {exc}"
    return None


def upstream_of(nginx: Nginx) -> str:
    """The worker that nginx sends this machine's clients to (it is sticky by address)."""
    return requests.get(nginx.url + "/health", timeout=10).headers["X-Upstream"]


def count_misrouted(run: ArrivalRun, upstream: str) -> None:
    """A check-in that nginx did not send to ``upstream`` did not cross Redis: an error."""
    for patient in run.patients:
        if patient.served_by and patient.served_by != upstream:
            run.tally.error("routing", f"check-in served by {patient.served_by}, not {upstream}")


def multi_worker(ctx: Context) -> dict[str, Any] | str:
    if missing := missing_for_multi_worker(ctx.redis_url):
        return f"skipped: {missing}"
    database_url = ctx.databases.new("postgresql")
    channel = f"bench-{uuid.uuid4().hex}"  # parallel runs never hear each other
    with ExitStack() as stack:
        workers = [
            started(
                stack,
                ctx.product(
                    database_url, "eventlet", ctx.redis_url, BACKOFFICE_SOCKETIO_CHANNEL=channel
                ),
            )
            for _ in range(2)
        ]
        addresses = [f"127.0.0.1:{w.port}" for w in workers]
        nginx = started(stack, Nginx(addresses, ctx.workdir / "nginx"))
        patients_worker = upstream_of(nginx)
        if patients_worker not in addresses:
            raise RuntimeError(f"nginx answered from {patients_worker!r}, not {addresses}")
        staff_worker = workers[1 - addresses.index(patients_worker)]  # dashboards: the other
        cookies = staff_cookies(staff_worker.url, ctx.sizes.multi_dashboards)
        target = Target(nginx.url, staff_worker.url, cookies, [w.pid for w in workers])
        run = arrivals_on(ctx, target, ctx.sizes.multi_patients, "two workers")
        count_misrouted(run, patients_worker)
    latencies = run.latencies()
    return {
        "workers": len(workers),
        "cross_worker_p99_ms": percentile_ms(latencies, 99),
        "delivered": len(latencies),
        "expected": run.expected,
        "errors": run.tally.total,
    }


# --- plain HTTP and start-up ----------------------------------------------------------------


def get_p50(session: requests.Session, url: str, count: int) -> float | None:
    """Median of ``count`` sequential GETs on one keep-alive session, after a warm-up."""
    seconds = []
    for n in range(WARM_UP_REQUESTS + count):
        began = time.perf_counter()
        answer = session.get(url, timeout=30)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {url}: {answer.status_code}")
        if n >= WARM_UP_REQUESTS:
            seconds.append(time.perf_counter() - began)
    return median_ms(seconds)


def http(ctx: Context) -> dict[str, Any]:
    count = ctx.sizes.http_requests
    with ExitStack() as stack:
        server = started(stack, ctx.product(ctx.databases.new("sqlite"), "eventlet"))
        staff = live_login(server.url, staff_username(1))
        page = get_p50(staff, server.url + "/waiting-room/", count)
        join = get_p50(requests.Session(), f"{server.url}/wait/{JOIN_CODE}", count)
        bare = started(stack, ctx.bare("eventlet"))
        plain = get_p50(requests.Session(), bare.url + "/plain", count)
    return {"waiting_room_page_p50_ms": page, "join_page_p50_ms": join, "bare_p50_ms": plain}


def startup(ctx: Context) -> float:
    """Median seconds from spawning ``backoffice run`` to its first 200 from /health."""
    database_url = ctx.databases.new("sqlite")
    seconds = []
    for _ in range(ctx.sizes.startups):
        with ExitStack() as stack:
            seconds.append(started(stack, ctx.product(database_url, "eventlet")).startup_s)
    return round(statistics.median(seconds), 2)


SECTIONS = {
    "startup": startup,
    "waiting_room": waiting_room,
    "waiting_room_postgresql": waiting_room_postgresql,
    "queue": queue,
    "concurrency": concurrency,
    "modes": modes,
    "multi_worker": multi_worker,
    "http": http,
    "reports": reports,
}
#: the JSON key of each section
KEYS = {name: "startup_s" if name == "startup" else name for name in SECTIONS}
