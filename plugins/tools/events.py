"""Socket.IO events of the Tools plugin."""

from __future__ import annotations

import time
from typing import Any

from core.api import SocketContext, SocketEvent, audit, db_session
from plugins.tools.models import SpeedTestResult
from plugins.tools.schemas import PingSchema, SpeedTestResultSchema
from plugins.tools.verdict import verdict


def ping(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    """Echo the client's clock with the server's, so the client can time the round trip."""
    return {"sent_at": payload["sent_at"], "server_time": time.time()}


def record_speed_test(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    words = verdict(payload["latency_ms"], payload["download_mbps"], payload["upload_mbps"])
    result = SpeedTestResult(user_id=context.user_id, verdict=words, **payload)
    session = db_session()
    session.add(result)
    session.flush()  # the id, for the audit row
    audit(
        "tools.speed_test_recorded", target=f"result:{result.id}", details=payload, source="tools"
    )
    session.commit()
    return {"id": result.id, "verdict": words}


EVENTS = [
    SocketEvent("tools.ping", ping, PingSchema, namespace="staff"),
    SocketEvent("tools.ping", ping, PingSchema, namespace="patient"),
    SocketEvent(
        "tools.record_speed_test",
        record_speed_test,
        SpeedTestResultSchema,
        permission=("can_measure", "SpeedTest"),
    ),
]
