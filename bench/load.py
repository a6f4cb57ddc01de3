"""The loads: an open-loop burst of arrivals watched by dashboards, and a crowd of waiting
patients that heartbeat. Each returns raw samples; :mod:`bench.sections` makes figures."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from bench.clients import Dashboard, Limits, Patient, Tally
from bench.procs import cpu_seconds
from bench.servers import JOIN_CODE

POLL = 0.05
MAX_FILL_ERRORS = 50


def total_cpu(pids: Iterable[int]) -> float:
    try:
        return sum(cpu_seconds(pid) for pid in pids)
    except FileNotFoundError:
        raise RuntimeError("a server process died during the load") from None


async def wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL)
    return True


async def bounded(steps: Iterable[Awaitable[object]], timeout: float) -> int:
    """Run ``steps`` together for at most ``timeout`` seconds; cancel and count what is left."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    if not tasks:
        return 0
    _done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*pending, return_exceptions=True)
    return len(pending)


@dataclass(frozen=True)
class Target:
    """Where patients check in, where dashboards listen, whose CPU counts."""

    patient_url: str
    staff_url: str
    cookies: list[str]  # one logged-in session per dashboard ("" for the bare server)
    pids: list[int]


@dataclass
class ArrivalRun:
    patients: list[Patient]
    dashboards: list[Dashboard]
    tally: Tally
    cpu_s: float

    @property
    def expected(self) -> int:
        return len(self.patients) * len(self.dashboards)

    def latencies(self) -> list[float]:
        """Seconds from each check-in POST to its ``arrived`` update, per dashboard."""
        found = []
        for patient in self.patients:
            if patient.entry_id is None or patient.posted_at is None:
                continue
            for dashboard in self.dashboards:
                at = dashboard.arrivals.get(patient.entry_id)
                if at is not None:
                    found.append(at - patient.posted_at)
        return found

    def all_delivered(self) -> bool:
        ids = [p.entry_id for p in self.patients if p.entry_id is not None]
        return all(i in d.arrivals for d in self.dashboards for i in ids)


async def loop_lags(seconds: float, every: float = 0.01) -> list[float]:
    """How late this process's event loop woke a sleeper, sampled every ``every`` seconds."""
    lags: list[float] = []
    ends = time.perf_counter() + seconds
    while (now := time.perf_counter()) < ends:
        await asyncio.sleep(every)
        lags.append(max(0.0, time.perf_counter() - now - every))
    return lags


@dataclass
class Crowd:
    """Patients who checked in and stay, each heartbeating on its own socket."""

    url: str
    tally: Tally
    limits: Limits
    joined: list[Patient] = field(default_factory=list)
    everyone: list[Patient] = field(default_factory=list)
    beats: list[asyncio.Task[None]] = field(default_factory=list)
    in_flight: int = 0
    lags: list[float] = field(default_factory=list)

    async def add(self) -> Patient | None:
        patient = Patient(
            self.url, JOIN_CODE, f"Bench Patient {len(self.everyone) + 1}", self.tally, self.limits
        )
        self.everyone.append(patient)
        token = await patient.check_in()
        if token is None or not await patient.join(token):
            return None
        self.joined.append(patient)
        self.beats.append(asyncio.create_task(patient.heartbeat_forever()))
        return patient

    @property
    def connected(self) -> int:
        return sum(1 for p in self.joined if p.client is not None and p.client.connected)

    async def fill(self, size: int, parallel: int, within: float) -> None:
        """Add patients, ``parallel`` at a time, until ``size`` wait or ``within`` seconds pass."""
        deadline = time.monotonic() + within

        def more() -> bool:
            wanted = len(self.joined) + self.in_flight < size
            return wanted and time.monotonic() < deadline and self.tally.total < MAX_FILL_ERRORS

        async def worker() -> None:
            while more():
                self.in_flight += 1
                try:
                    await self.add()
                finally:
                    self.in_flight -= 1

        limit = within + self._one_patient_limit()
        if cut := await bounded([worker() for _ in range(parallel)], limit):
            self.tally.error("timeout", f"{cut} check-ins still running after {limit:.0f}s")

    def _one_patient_limit(self) -> float:
        return 2 * self.limits.http + self.limits.connect + 2 * self.limits.ack + 10

    async def probe(self, count: int) -> list[float]:
        """Check ``count`` more patients in one after another; their POST seconds."""
        seconds = []
        for _ in range(count):
            patient = await self.add()
            if patient is not None and patient.post_seconds is not None:
                seconds.append(patient.post_seconds)
        return seconds

    async def quiet_window(self, pids: list[int], seconds: float) -> tuple[list[float], float]:
        """Heartbeat ack seconds sent within a window with no arrivals, and CPU % of a core.
        ``self.lags`` gets this process's own event-loop lag meanwhile: an ack that arrived
        while the harness was busy is timed late by as much."""
        began, cpu_before = time.perf_counter(), total_cpu(pids)
        self.lags = await loop_lags(seconds)
        ended, cpu_after = time.perf_counter(), total_cpu(pids)

        def window_answered() -> bool:
            return all(p.beat_sent_at is None or p.beat_sent_at >= ended for p in self.joined)

        await wait_until(window_answered, self.limits.ack + 1)  # the window's late acks
        samples = [w for p in self.joined for sent, w in p.heartbeats if began <= sent < ended]
        return samples, 100 * (cpu_after - cpu_before) / (ended - began)

    async def close(self) -> None:
        for beat in self.beats:
            beat.cancel()
        await bounded([p.close() for p in self.everyone], self.limits.close + 10)


async def run_arrivals(
    target: Target, count: int, rate: float, limits: Limits, drain_s: float
) -> ArrivalRun:
    """``count`` patients arrive at ``rate``/s on schedule (open loop) while the dashboards
    watch; waits for every notification, at most ``drain_s`` after the last check-in."""
    tally = Tally()
    dashboards = [Dashboard(target.staff_url, c, tally, limits) for c in target.cookies]
    patients = [
        Patient(target.patient_url, JOIN_CODE, f"Bench Patient {n}", tally, limits)
        for n in range(1, count + 1)
    ]
    run = ArrivalRun(patients, dashboards, tally, cpu_s=0.0)
    beats: list[asyncio.Task[None]] = []

    async def arrive(patient: Patient, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        token = await patient.check_in()
        if token is not None and await patient.join(token):
            beats.append(asyncio.create_task(patient.heartbeat_forever()))

    try:
        await bounded([d.open() for d in dashboards], limits.connect + limits.ack + 10)
        cpu_before = total_cpu(target.pids)
        start = time.monotonic() + 0.2
        schedule = [arrive(p, start + n / rate) for n, p in enumerate(patients)]
        limit = count / rate + 2 * limits.http + limits.connect + 2 * limits.ack
        if cut := await bounded(schedule, limit):
            tally.error("timeout", f"{cut} arrivals still running after {limit:.0f}s")
        await wait_until(run.all_delivered, drain_s)
        run.cpu_s = total_cpu(target.pids) - cpu_before
    finally:
        for beat in beats:
            beat.cancel()
        closing = [p.close() for p in patients] + [d.close() for d in dashboards]
        await bounded(closing, limits.close + 10)
    return run
