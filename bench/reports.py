"""The ``reports`` section: every report of Reporting over a year of visits, timed.

For SQLite and PostgreSQL: a fresh database, ``backoffice reporting seed-visits`` (the
sizes' ``report_visits`` over 365 days), a server, then for each report (and the first page
of its year-wide drill-down) the median of sequential GETs as a practice admin sees them.
The bar is 300 ms a report.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import requests

from bench.stats import median_ms
from tests.conftest import live_login

if TYPE_CHECKING:
    from bench.sections import Context

BACKENDS = ("sqlite", "postgresql")
REPORTS = (
    "attendance",
    "session_duration",
    "invite_type",
    "copay",
    "wait",
    "left_by_hour",
    "left_by_weekday",
)
WARM_UP = 2
BAR_MS = 300.0
SEED_TIMEOUT = 900


def seed(ctx: Context, database_url: str, visits: int) -> float:
    """Seconds to add ``visits`` synthetic visit records with the server's own command."""
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "reporting", "seed-visits", "--visits", str(visits)],
        cwd=ctx.server_root,
        env={
            **_environment(),
            "BACKOFFICE_DATABASE_URL": database_url,
            "BACKOFFICE_INSTANCE_DIR": str(ctx.workdir / "seed"),
        },
        capture_output=True,
        text=True,
        timeout=SEED_TIMEOUT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"seeding visits failed:\n{done.stderr[-3000:]}")
    return round(time.monotonic() - began, 1)


def _environment() -> dict[str, str]:
    return dict(os.environ)


def timed(session: requests.Session, url: str, count: int) -> float | None:
    seconds = []
    for n in range(WARM_UP + count):
        began = time.perf_counter()
        answer = session.get(url, timeout=60)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {url}: {answer.status_code} {answer.text[:200]}")
        if n >= WARM_UP:
            seconds.append(time.perf_counter() - began)
    return median_ms(seconds)


def on_backend(ctx: Context, backend: str) -> dict[str, Any]:
    from bench.sections import started

    database_url = ctx.databases.new(backend)
    seeded_s = seed(ctx, database_url, ctx.sizes.report_visits)
    today = dt.date.today()
    year = f"date_from={today - dt.timedelta(days=365)}&date_to={today + dt.timedelta(days=1)}"
    figures: dict[str, Any] = {"visits": ctx.sizes.report_visits, "seed_s": seeded_s}
    with ExitStack() as stack:
        server = started(stack, ctx.product(database_url, "eventlet"))
        admin = live_login(server.url, "practiceadmin")
        count = ctx.sizes.report_requests
        for name in REPORTS:
            figures[f"{name}_p50_ms"] = timed(
                admin, f"{server.url}/reporting/report/{name}?{year}", count
            )
        figures["visits_page_p50_ms"] = timed(admin, f"{server.url}/reporting/visits?{year}", count)
        month = f"date_from={today - dt.timedelta(days=30)}&date_to={today}"
        figures["visits_csv_month_p50_ms"] = timed(
            admin, f"{server.url}/reporting/visits/csv?{month}", max(1, count // 4)
        )
    timings = [
        v for k, v in figures.items() if k.endswith("_p50_ms") and k != "visits_csv_month_p50_ms"
    ]
    figures["slowest_report_ms"] = max(t for t in timings if t is not None)
    figures["under_bar"] = figures["slowest_report_ms"] < BAR_MS
    return figures


def reports(ctx: Context) -> dict[str, Any]:
    from tests.conftest import PG_URL

    return {
        backend: on_backend(ctx, backend)
        if backend != "postgresql" or PG_URL
        else "skipped: BACKOFFICE_TEST_DATABASE_URL is not set"
        for backend in BACKENDS
    }
