"""``make bench``: figures for a live eventlet server on SQLite, printed, never asserted.

Bounded in count and time, loopback only. Prints request latencies, Socket.IO round
trips, connection set-up for many patient sockets, and the server's memory.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
import socketio

from tests.conftest import DatabaseFactory, LiveServer, base_overrides, live_login

PATIENT_SOCKETS = 100


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    median = statistics.median(ordered)
    return f"p50 {median * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms   n={len(ordered)}"


def timed(count: int, call: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def patient_tokens(database_url: str, root: Path, count: int) -> list[str]:
    from core.app import create_app
    from core.tokens import new_patient_token

    app = create_app(base_overrides(database_url, root / "instance"))
    with app.app_context():
        return [new_patient_token(kind="bench") for _ in range(count)]


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="backoffice-bench-"))
    database_url = DatabaseFactory(root=root).new("sqlite")
    server = LiveServer(
        database_url=database_url, instance_dir=root / "live", async_mode="eventlet"
    )
    server.start()
    assert server.process is not None
    try:
        print(f"server: eventlet, SQLite, {server.url}")
        print(f"memory at start            {rss_mib(server.process.pid):7.1f} MiB")
        http = requests.Session()
        print(
            "GET /health                ",
            percentiles(timed(300, lambda: http.get(server.url + "/health"))),
        )
        staff = live_login(server.url, "clinician1")
        print(
            "GET / (logged in)          ",
            percentiles(timed(100, lambda: staff.get(server.url + "/"))),
        )
        cookie = "; ".join(f"{k}={v}" for k, v in staff.cookies.items())
        client = socketio.Client()
        client.connect(
            server.url, namespaces=["/staff"], headers={"Cookie": cookie}, transports=["websocket"]
        )

        def ping() -> object:
            return client.call(
                "tools.ping", {"sent_at": time.time()}, namespace="/staff", timeout=5
            )

        print("Socket.IO tools.ping ack   ", percentiles(timed(300, ping)))
        tokens = patient_tokens(database_url, root, PATIENT_SOCKETS)
        patients: list[socketio.Client] = []
        connects = []
        for token in tokens:
            patient = socketio.Client()
            start = time.perf_counter()
            patient.connect(
                server.url, namespaces=["/patient"], auth={"token": token}, transports=["websocket"]
            )
            connects.append(time.perf_counter() - start)
            patients.append(patient)
        print(f"patient socket connect     {percentiles(connects)}")
        print(f"memory with {len(patients)} patients    {rss_mib(server.process.pid):7.1f} MiB")
        start = time.perf_counter()
        for patient in patients:
            patient.call("tools.ping", {"sent_at": time.time()}, namespace="/patient", timeout=5)
        elapsed = time.perf_counter() - start
        rate = len(patients) / elapsed
        print(f"one ping from each patient {elapsed * 1000:7.1f} ms total ({rate:6.0f}/s)")
        for patient in patients:
            patient.disconnect()
        client.disconnect()
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
