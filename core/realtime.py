"""Socket.IO: two namespaces that plugins attach events to, with validation and gating.

``/staff`` accepts logged-in users (their login session cookie); ``/patient`` accepts a
signed, expiring patient token. Every event is routed through :meth:`Hub.dispatch`, which
answers with an acknowledgement: ``{"ok": true, "data": ...}`` or
``{"ok": false, "error": {"code": ..., "message": ...}}``; bad input never drops the
connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import socketio as python_socketio
from flask import Flask, current_app, g, request, session
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, SocketIO, emit, join_room
from marshmallow import ValidationError

from core import access, tokens
from core.database import UNAVAILABLE_MESSAGE, is_unavailable
from core.inputs import UNSTORABLE_MESSAGE, unstorable_text
from core.types import SocketContext, SocketError, SocketEvent

if TYPE_CHECKING:
    from core.plugins import PluginManager

log = logging.getLogger(__name__)

NAMESPACES = {"staff": "/staff", "patient": "/patient"}
OPEN_ELSEWHERE = "The back office is open in another tab or window. Only one can be live at a time."
STAFF_ROOM = "staff"


def socketio_of(app: Flask) -> SocketIO:
    """The app's Socket.IO server (one per app, so tests can build many apps)."""
    server: SocketIO = app.extensions["backoffice.socketio"]
    return server


def error_ack(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message, **extra}}


class Hub:
    """The registry of plugin events and the dispatcher in front of them."""

    def __init__(self, plugins: PluginManager) -> None:
        self.plugins = plugins
        self.events: dict[tuple[str, str], tuple[str, SocketEvent]] = {}
        # One schema instance per event: building one copies its fields, on every event.
        self.schemas: dict[tuple[str, str], Any] = {}

    def add(self, plugin: str, event: SocketEvent) -> None:
        if event.namespace not in NAMESPACES:
            raise ValueError(f"event {event.name!r}: unknown namespace {event.namespace!r}")
        if not event.name.startswith(plugin + "."):
            raise ValueError(f"event {event.name!r} must start with {plugin + '.'!r}")
        key = (NAMESPACES[event.namespace], event.name)
        if key in self.events:
            raise ValueError(f"event {event.name!r} is already registered")
        self.events[key] = (plugin, event)
        self.schemas[key] = event.schema()

    def dispatch(self, namespace: str, name: str, data: Any) -> dict[str, Any]:
        entry = self.events.get((namespace, name))
        if entry is None:
            return error_ack("unknown_event", f"no event named {name!r} on {namespace}")
        plugin, event = entry
        if not self.plugins.states.is_enabled(plugin):
            return error_ack("plugin_disabled", f"the {plugin} plugin is disabled")
        try:
            context = _context(namespace)
            if context is None:
                return error_ack("unauthorized", "your session has ended; sign in again")
            if event.permission and not _has_permission(*event.permission):
                return error_ack("forbidden", f"you lack the permission for {name!r}")
        except Exception as exc:
            _rollback()
            if is_unavailable(exc):
                return _unavailable_ack(name, exc)
            log.exception("socket event %s: access check failed", name)
            return error_ack("internal_error", "the server could not check your access")
        if unstorable_text(data):
            return error_ack("invalid", UNSTORABLE_MESSAGE)
        try:
            payload = self.schemas[(namespace, name)].load({} if data is None else data)
        except ValidationError as exc:
            return error_ack("invalid", "the payload is not valid", fields=exc.messages)
        except Exception:  # e.g. a list where an object belongs
            return error_ack("invalid", "the payload must be a JSON object")
        try:
            result = event.handler(payload, context)
        except SocketError as exc:
            return error_ack(exc.code, exc.message)
        except Exception as exc:
            _rollback()
            if is_unavailable(exc):
                return _unavailable_ack(name, exc)
            log.exception("socket event %s failed", name)
            return error_ack("internal_error", "the server could not handle this event")
        return {"ok": True, "data": result}


def _rollback() -> None:
    from core.database import db

    try:
        db.session.rollback()
    except Exception as exc:  # the connection itself is gone; the pool replaces it
        log.warning("rollback failed: %s", str(exc).splitlines()[0])


def _unavailable_ack(name: str, error: Exception) -> dict[str, Any]:
    log.warning("socket event %s: database unavailable: %s", name, str(error).splitlines()[0])
    return error_ack("unavailable", UNAVAILABLE_MESSAGE)


def _has_permission(permission: str, view_menu: str) -> bool:
    if not hasattr(g, "user"):  # FAB's has_access reads g.user, set only for HTTP requests
        g.user = current_user._get_current_object()
    return bool(current_app.extensions["appbuilder"].sm.has_access(permission, view_menu))


def _context(namespace: str, *, checked: bool = True) -> SocketContext | None:
    """Who is on this socket; ``checked`` also requires the staff login to be still valid."""
    sid = getattr(request, "sid", "")
    if namespace == NAMESPACES["staff"]:
        if not current_user.is_authenticated:
            return None
        problem = checked and access.session_problem(current_user, touch=False, timers=False)
        if problem:
            return None
        return SocketContext(
            sid=sid, namespace=namespace, user_id=current_user.id, username=current_user.username
        )
    patient = session.get("patient")
    if patient is None:
        return None
    return SocketContext(sid=sid, namespace=namespace, patient=patient)


class StaffSockets:
    """This worker's staff sockets and the login each one belongs to, so that a login that
    ends (replaced, signed out, revoked, expired) takes its sockets with it."""

    def __init__(self) -> None:
        self._logins: dict[str, tuple[int, str | None]] = {}

    def add(self, sid: str, user_id: int, login_id: str | None) -> None:
        self._logins[sid] = (user_id, login_id)

    def discard(self, sid: str) -> None:
        self._logins.pop(sid, None)

    def snapshot(self) -> dict[str, tuple[int, str | None]]:
        return dict(self._logins)


def staff_sockets(app: Flask) -> StaffSockets:
    found: StaffSockets = app.extensions["backoffice.staff_sockets"]
    return found


def drop_ended_logins(app: Flask | None = None) -> set[str]:
    """Disconnect this worker's staff sockets whose login has ended; a client that ignores
    "signed out" hears nothing more. Run after every change that ends logins here, and
    every second by the server's housekeeping for changes made on other workers."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    sockets = staff_sockets(app)
    logins = sockets.snapshot()
    if not logins:
        return set()
    ended = access.ended_logins(logins)
    idle = access.idle_logins({sid: login for sid, login in logins.items() if sid not in ended})
    server = socketio_of(app).server
    told = {"reason": access.IDLE.code, "message": access.IDLE.message}
    for sid in ended | idle:
        sockets.discard(sid)
        if sid in idle:  # its page has not been told by its login's room, as the others were
            server.emit("core.session_ended", told, to=sid, namespace=NAMESPACES["staff"])
        server.disconnect(sid, namespace=NAMESPACES["staff"], ignore_queue=True)
    return ended | idle


def _staff_connect(auth: Any = None) -> bool:
    if not current_user.is_authenticated:
        raise ConnectionRefusedError("unauthorized")
    # The handshake carries the browser's current cookie, so its timers are checked too: an
    # idle login's socket, cut off by the server, cannot simply connect again.
    if access.session_problem(current_user, touch=False) is not None:
        raise ConnectionRefusedError("session ended")
    staff_sockets(current_app).add(
        getattr(request, "sid", ""), current_user.id, session.get(access.SESSION_ID)
    )
    join_room(STAFF_ROOM)
    join_room(f"user:{current_user.id}")
    sm = current_app.extensions["appbuilder"].sm
    for permission, view_menu in sm.get_user_permissions(current_user):
        join_room(permission_room(permission, view_menu))
    if not is_companion(auth):
        _claim_tab()
    return True


def is_companion(auth: Any) -> bool:
    """A companion window (a call window beside the back office) serves the live page; it
    neither claims the session's one live tab nor is told when another page does."""
    return isinstance(auth, dict) and auth.get("companion") is True


def permission_room(permission: str, view_menu: str) -> str:
    """The room of every staff socket whose user holds this permission (at connect time;
    a change of a role's permissions ends its users' sessions, so they reconnect)."""
    return f"perm:{permission}:{view_menu}"


def _claim_tab() -> None:
    """Make this page the session's live one; its other open pages are told so."""
    room = f"session:{session.get(access.SESSION_ID)}"
    join_room(room)
    sid = getattr(request, "sid", None)
    emit("core.open_elsewhere", {"message": OPEN_ELSEWHERE}, to=room, skip_sid=sid)


def _on_use_here(data: Any = None) -> dict[str, Any]:
    if _context(NAMESPACES["staff"]) is None:
        return error_ack("unauthorized", "your session has ended; sign in again")
    _claim_tab()
    return {"ok": True, "data": None}


def _patient_connect(auth: Any = None) -> bool:
    token = auth.get("token") if isinstance(auth, dict) else None
    claims = tokens.verify_patient_token(token) if isinstance(token, str) else None
    if claims is None:
        raise ConnectionRefusedError("invalid or expired patient token")
    session["patient"] = claims
    join_room(f"patient:{claims['sub']}")
    return True


RESYNC = "core.resync"


class ResilientRedisManager(python_socketio.RedisManager):
    """python-socketio's Redis queue, back within seconds of an outage (its own backoff
    grows to a minute), and telling this worker's pages to fetch their snapshots again
    when it is: the queue is fire-and-forget, so what other workers said meanwhile is lost.
    """

    max_retry_sleep = 2.0

    def _redis_listen_with_retries(self) -> Iterator[Any]:  # pragma: no cover - a thread
        retry_sleep, subscribed, lost = 0.25, False, False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    self.pubsub.subscribe(self.channel)
                    subscribed, retry_sleep = True, 0.25
                    if lost:
                        lost = False
                        self._resync()
                yield from self.pubsub.listen()
            except Exception as exc:
                log.warning("message queue lost (%s); retrying in %.1f s", exc, retry_sleep)
                subscribed, lost = False, True
                time.sleep(retry_sleep)  # green under eventlet and gevent
                retry_sleep = min(retry_sleep * 2, self.max_retry_sleep)

    def _resync(self) -> None:
        log.warning("message queue back: open pages fetch their snapshots again")
        for namespace in NAMESPACES.values():
            self.server.emit(RESYNC, {}, namespace=namespace, ignore_queue=True)


def _queue_options(app: Flask) -> dict[str, Any]:
    url = app.config["SOCKETIO_MESSAGE_QUEUE"]
    if not url:
        return {}
    if not url.startswith(("redis://", "rediss://")):
        return {"message_queue": url, "channel": app.config["SOCKETIO_CHANNEL"]}
    manager = ResilientRedisManager(
        url,
        channel=app.config["SOCKETIO_CHANNEL"],
        # An unreachable Redis fails a publish in seconds instead of holding the handler.
        redis_options={"socket_connect_timeout": 2, "health_check_interval": 10},
    )
    return {"client_manager": manager}


def _served_by_engineio() -> Any:
    """Never called: Engine.IO's middleware answers this path before Flask sees it."""
    from flask import abort

    abort(404)


_served_by_engineio._backoffice_public = "the Socket.IO transport; Engine.IO answers it"  # type: ignore[attr-defined]


def init_realtime(app: Flask, hub: Hub) -> SocketIO:
    origins = app.config["SOCKETIO_CORS_ALLOWED_ORIGINS"] or None  # None: same origin only
    socketio = SocketIO()
    app.extensions["backoffice.socketio"] = socketio
    app.extensions["backoffice.staff_sockets"] = StaffSockets()
    access.init_activity(app)
    socketio.init_app(
        app,
        async_mode=app.config["ASYNC_MODE"],
        cors_allowed_origins=origins,
        manage_session=True,
        **_queue_options(app),
    )
    # Flask-SocketIO handles each event in a request context made from the socket's
    # handshake; a rule for that path spares every event a routing NotFound, whose
    # traceback is garbage the cycle collector has to find (pauses of 100 ms and more).
    app.add_url_rule("/socket.io/", "socketio_transport", _served_by_engineio, strict_slashes=False)
    staff, patient = NAMESPACES["staff"], NAMESPACES["patient"]
    socketio.on_event("connect", _connect_handler(hub, staff, _staff_connect), namespace=staff)
    socketio.on_event(
        "connect", _connect_handler(hub, patient, _patient_connect), namespace=patient
    )
    socketio.on_event("core.use_here", _on_use_here, namespace=staff)
    for namespace in (staff, patient):
        socketio.on_event("disconnect", _disconnect_handler(hub, namespace), namespace=namespace)
        socketio.on_event("*", _dispatcher(hub, namespace), namespace=namespace)
    return socketio


#: python-socketio's disconnect reasons, in the words of the plugin contract.
_REASONS = {"client disconnect": "client", "server disconnect": "server"}


def _connect_handler(hub: Hub, namespace: str, accept: Any) -> Any:
    def on_connect(auth: Any = None) -> bool:
        accept(auth)
        context = _context(namespace, checked=False)
        if context is not None:
            hub.plugins.call_each("backoffice_socket_connected", context=context)
        return True

    on_connect.__name__ = f"connect_{namespace.strip('/')}"
    return on_connect


def _disconnect_handler(hub: Hub, namespace: str) -> Any:
    def on_disconnect(reason: Any = None) -> None:
        if namespace == NAMESPACES["staff"]:
            staff_sockets(current_app).discard(getattr(request, "sid", ""))
        context = _context(namespace, checked=False)
        if context is not None:
            said = _REASONS.get(str(reason), "lost")
            hub.plugins.call_each("backoffice_socket_disconnected", context=context, reason=said)

    on_disconnect.__name__ = f"disconnect_{namespace.strip('/')}"
    return on_disconnect


def _dispatcher(hub: Hub, namespace: str) -> Any:
    def dispatch(event: str, data: Any = None, *_extra: Any) -> dict[str, Any]:
        return hub.dispatch(namespace, event, data)

    dispatch.__name__ = f"dispatch_{namespace.strip('/')}"
    return dispatch


def emit_to(
    event: str,
    data: Any,
    *,
    namespace: str = "staff",
    room: str | None = None,
    permission: tuple[str, str] | None = None,
) -> None:
    """Notify clients; works from requests, handlers and background tasks on any worker.

    ``permission`` narrows a staff notification to the users holding it.
    """
    if permission is not None:
        if room is not None or namespace != "staff":
            raise ValueError("permission= addresses staff sockets by itself; give no room")
        room = permission_room(*permission)
    socketio_of(current_app).emit(event, data, namespace=NAMESPACES[namespace], to=room)
