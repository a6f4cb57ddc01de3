"""CI's short form of the load bench (``python -m bench``): a burst of arrivals.

About 60 patients check in at 20 per second through the real flow (join page, check-in,
socket, device check, heartbeats) while 5 staff dashboards watch one eventlet worker. What
must hold under that load: every arrival reaches every dashboard, no request, connection or
acknowledgement fails, and the worker still answers ``/health`` afterwards. Nothing here
asserts a latency or a time: those are the bench's figures, never a test's verdict.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from bench.clients import Limits
from bench.databases import BenchDatabases
from bench.load import ArrivalRun, Target, run_arrivals
from bench.procs import answers_health
from bench.sections import staff_cookies, started
from bench.servers import BenchServer
from tests.conftest import ROOT

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("load"), pytest.mark.timeout(900)]

# ``make soak`` (BACKOFFICE_SOAK=1): the 200-patient burst; CI: 60.
PATIENTS = 200 if os.environ.get("BACKOFFICE_SOAK", "") == "1" else 60
DASHBOARDS = 5
RATE = 20.0
# Generous: a busy CI machine is slow, and a stalled worker must fail, never hang.
LIMITS = Limits(http=60.0, connect=60.0, ack=60.0, close=10.0)
DRAIN_S = 120.0
HEALTH_WITHIN_S = 10.0


@pytest.fixture
def bench_databases(tmp_path: Path) -> Iterator[BenchDatabases]:
    databases = BenchDatabases(tmp_path / "databases", ROOT, staff=DASHBOARDS)
    yield databases
    databases.drop_all()


def burst(server: BenchServer) -> ArrivalRun:
    cookies = staff_cookies(server.url, DASHBOARDS)
    target = Target(server.url, server.url, cookies, [server.pid])
    # A thread of its own: the browser tests' Playwright may hold this thread's event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(
            asyncio.run, run_arrivals(target, PATIENTS, RATE, LIMITS, DRAIN_S)
        ).result()


def test_a_burst_of_arrivals_reaches_every_dashboard_and_the_worker_stays_up(
    backend: str, bench_databases: BenchDatabases, tmp_path: Path
) -> None:
    server = BenchServer(
        database_url=bench_databases.new(backend),
        instance_dir=tmp_path / "live",
        async_mode="eventlet",
    )
    with ExitStack() as stack:
        started(stack, server)
        run = burst(server)
        healthy = answers_health(server.url + "/health", within=HEALTH_WITHIN_S)
        log = server.log()
    delivered = len(run.latencies())
    problems = []
    if run.tally.total:
        problems.append(f"{run.tally.total} errors {dict(run.tally.counts)}: {run.tally.samples}")
    if delivered != run.expected:
        problems.append(f"{delivered} of {run.expected} notifications reached the dashboards")
    if not healthy:
        problems.append(f"no 200 from /health within {HEALTH_WITHIN_S:g}s after the burst")
    assert not problems, "\n".join(problems) + f"\nserver log:\n{log[-3000:]}"
