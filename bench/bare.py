"""A bare python-socketio server doing the waiting room's fan-out, as a reference.

``python -m bench.bare MODE PORT``: monkey-patches for eventlet or gevent first (as
``core.cli`` does), then serves, in that mode, what the load touches: the join page
``GET /wait/<code>``, the check-in ``POST /wait/<code>/enter`` (a token, and an ``arrived``
update to every dashboard), ``/patient`` and ``/staff`` namespaces that ack the events the
load sends, ``GET /plain`` for the bare HTTP figure and ``GET /health``.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

HEARTBEAT = 15.0
JOIN_PAGE = (
    b"<!doctype html><html><head><title>Waiting room</title></head><body>"
    b'<main id="wr-patient" data-csrf="bare-csrf"><h1>Waiting room</h1></main></body></html>'
)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def patch_for(mode: str) -> None:
    if mode == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    elif mode == "gevent":
        from gevent import monkey

        monkey.patch_all()


def ack(data: Any) -> dict[str, Any]:
    return {"ok": True, "data": data}


def build(mode: str) -> Any:
    """The Socket.IO server and its WSGI app."""
    import socketio

    sio = socketio.Server(async_mode=mode)
    numbers = itertools.count(1)

    @sio.on("connect", namespace="/staff")
    def staff_connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        sio.enter_room(sid, "staff", namespace="/staff")
        return True

    @sio.on("waiting_room.snapshot", namespace="/staff")
    def snapshot(sid: str, data: Any = None) -> dict[str, Any]:
        return ack({"entries": [], "version": 0})

    @sio.on("connect", namespace="/patient")
    def patient_connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        return True

    @sio.on("waiting_room.status", namespace="/patient")
    def status(sid: str, data: Any = None) -> dict[str, Any]:
        return ack({"status": "waiting", "heartbeat": HEARTBEAT})

    @sio.on("waiting_room.device_check", namespace="/patient")
    def device_check(sid: str, data: Any = None) -> dict[str, Any]:
        return ack({"status": "waiting", "heartbeat": HEARTBEAT})

    def routes(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if method == "POST" and path.startswith("/wait/") and path.endswith("/enter"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            environ["wsgi.input"].read(length)
            number = next(numbers)
            update = {"kind": "arrived", "entry": {"id": number}}
            sio.emit("waiting_room.update", update, to="staff", namespace="/staff")
            body = {"token": f"bare-{number}", "entry_id": number, "created": True}
            return respond(start_response, "201 Created", json.dumps(body).encode(), "json")
        if method == "GET" and path.startswith("/wait/"):
            return respond(start_response, "200 OK", JOIN_PAGE, "html")
        if method == "GET" and path in ("/plain", "/health"):
            return respond(start_response, "200 OK", b'{"status": "ok"}', "json")
        return respond(start_response, "404 Not Found", b"not found", "plain")

    return socketio.WSGIApp(sio, routes)


def respond(start_response: StartResponse, status: str, body: bytes, kind: str) -> list[bytes]:
    types = {"json": "application/json", "html": "text/html; charset=utf-8"}
    content_type = types.get(kind, "text/plain")
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    start_response(status, headers)
    return [body]


def serve(mode: str, port: int, app: Any) -> None:
    """Serve as Flask-SocketIO's ``socketio.run`` does in that mode."""
    if mode == "eventlet":
        import eventlet
        import eventlet.wsgi

        listener = eventlet.listen(("127.0.0.1", port))
        eventlet.wsgi.server(listener, app, log_output=False, max_size=4096)
    elif mode == "gevent":
        from gevent import pywsgi
        from geventwebsocket.handler import WebSocketHandler

        server = pywsgi.WSGIServer(
            ("127.0.0.1", port), app, handler_class=WebSocketHandler, log=None
        )
        server.serve_forever()
    else:
        from werkzeug.serving import run_simple

        run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    patch_for(mode)
    serve(mode, port, build(mode))


if __name__ == "__main__":
    main()
