"""Intake's Socket.IO event: the open questionnaires (the snapshot a page fetches)."""

from __future__ import annotations

from typing import Any

from core.api import SocketContext, SocketEvent

from intake.schemas import PendingSchema
from intake.service import pending


def list_pending(payload: dict[str, Any], context: SocketContext) -> list[dict[str, Any]]:
    return pending(payload["limit"])


EVENTS = [
    SocketEvent(
        "intake.pending", list_pending, PendingSchema, permission=("can_list", "IntakeForm")
    )
]
