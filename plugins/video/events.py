"""Socket.IO events of the Video plugin: signalling, chat and the session's controls.

Both namespaces carry ``video.join``, ``video.signal``, ``video.chat`` and ``video.leave``;
only staff may end a session, send the patient back, or mint patient and guest links.
What reaches the other participants is pushed to their personal rooms (see
:mod:`plugins.video.service`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.api import SocketContext, SocketError, SocketEvent
from plugins.video import service
from plugins.video.schemas import ChatSchema, SessionSchema, SignalSchema

CALL_PERMISSION = ("can_join", "VideoCall")

Handler = Callable[[dict[str, Any], SocketContext], Any]


def who_of(payload: dict[str, Any], context: SocketContext) -> service.Who:
    if context.user_id is not None:
        return service.staff_who(context.user_id)
    claims = context.patient or {}
    if "sub" not in claims:
        raise SocketError("unauthorized", "open your session link again")
    return service.patient_who(claims, service.get_session(payload["session_id"]))


def join(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return service.join(payload["session_id"], who_of(payload, context), context.sid)


def signal(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return service.signal(payload, who_of(payload, context))


def chat(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return service.chat(payload, who_of(payload, context))


def leave(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return service.leave(payload["session_id"], who_of(payload, context))


def end(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return service.end(payload["session_id"], who_of(payload, context))


def send_back(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return service.send_back(payload["session_id"], who_of(payload, context))


def patient_link(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return service.patient_link(payload["session_id"], who_of(payload, context))


def invite_guest(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return service.invite_guest(payload["session_id"], who_of(payload, context))


SHARED: list[tuple[str, Handler, Any]] = [
    ("video.join", join, SessionSchema),
    ("video.signal", signal, SignalSchema),
    ("video.chat", chat, ChatSchema),
    ("video.leave", leave, SessionSchema),
]
STAFF_ONLY: list[tuple[str, Handler, Any]] = [
    ("video.end", end, SessionSchema),
    ("video.send_back", send_back, SessionSchema),
    ("video.patient_link", patient_link, SessionSchema),
    ("video.invite_guest", invite_guest, SessionSchema),
]

EVENTS = [
    *(
        SocketEvent(name, handler, schema, namespace="staff", permission=CALL_PERMISSION)
        for name, handler, schema in [*SHARED, *STAFF_ONLY]
    ),
    *(SocketEvent(name, handler, schema, namespace="patient") for name, handler, schema in SHARED),
]
