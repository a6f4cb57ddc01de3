"""How big each section's load is: the full run and ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    patients: int = 400  # waiting_room: arrivals, at ``rate`` per second
    dashboards: int = 20
    rate: float = 20.0
    drain_s: float = 60.0  # longest wait for notifications after the last check-in
    queue_waiting: int = 2000
    queue_fill_s: float = 240.0  # longest time to fill the queue; fewer wait when it runs out
    queue_window_s: float = 30.0
    probes: int = 5  # check-ins timed at 10 and at ``queue_waiting`` waiting
    connections: int = 1000
    connections_fill_s: float = 150.0
    held_s: float = 30.0
    mode_patients: int = 100
    mode_dashboards: int = 20
    multi_patients: int = 200
    multi_dashboards: int = 20
    http_requests: int = 200
    startups: int = 3
    report_visits: int = 100_000  # reports: visit records over a year
    report_requests: int = 20


FULL = Sizes()
QUICK = Sizes(
    patients=60,
    dashboards=5,
    drain_s=30.0,
    queue_waiting=200,
    queue_fill_s=60.0,
    queue_window_s=15.0,  # one heartbeat interval: every patient heartbeats once
    connections=200,
    connections_fill_s=60.0,
    held_s=5.0,
    mode_patients=40,
    mode_dashboards=5,
    multi_patients=40,
    multi_dashboards=5,
    http_requests=50,
    startups=1,
    report_visits=20_000,
    report_requests=5,
)
