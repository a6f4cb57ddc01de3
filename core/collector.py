"""The cycle collector, tuned for a server holding thousands of sockets.

Every Socket.IO event leaves a few hundred objects in reference cycles (Flask's contexts,
SQLAlchemy's per-statement bookkeeping), and with thousands of sockets the default
thresholds run full collections every few seconds that walk the whole heap: with 2,000
patients waiting, pauses of 100–300 ms that stall every heartbeat at once. What a pause
costs grows with the generation it walks, so: the boot's objects are frozen out of every
walk; young collections run often and stay short (2,000 allocations: a few ms); middle
ones every 10 of those (about 20 ms, measured with a gc callback under the bench's queue);
and full ones, the 100–300 ms walks, only after 10,000 middle ones (minutes apart under
load, against seconds before). Measured with ``make bench`` (queue section, 2,000 waiting):
heartbeat p99 ≈ 330 ms with the defaults, 83–121 ms with (20,000, 50, 100), and 28–87 ms
over five runs with these (and heartbeats spread over 85–100 % of their interval, as
patient.js does): under 35 ms unless a full collection lands in the measured window.
"""

from __future__ import annotations

import gc

#: Allocations between young collections (Python's default: 700), and young collections
#: between middle ones (10), and middle ones between full ones (10,000).
THRESHOLDS = (2_000, 10, 10_000)


def tune_for_server() -> None:
    """Once, after the boot: what it built lives as long as the process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
