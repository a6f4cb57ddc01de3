from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import login


def test_health_reports_plugins(client: FlaskClient) -> None:
    body = client.get("/health").get_json()
    assert body["status"] == "ok"
    assert body["message_queue"] is None and body["message_queue_state"] is None
    assert body["rate_limits"] == "memory"
    assert {"name": "tools", "version": "1.0.0", "state": "enabled"} in body["plugins"]


def test_health_checks_the_message_queue(make_app: Callable[..., Flask], redis_url: str) -> None:
    up = make_app(SOCKETIO_MESSAGE_QUEUE=redis_url).test_client().get("/health")
    assert up.status_code == 200
    assert up.get_json()["message_queue_state"] == "reachable"
    assert up.get_json()["rate_limits"] == "shared"
    dead = make_app(SOCKETIO_MESSAGE_QUEUE="redis://127.0.0.1:9/0").test_client().get("/health")
    assert dead.status_code == 503
    body = dead.get_json()
    assert body["status"] == "degraded" and body["database"] == "reachable"
    assert body["message_queue_state"].startswith("unreachable: ")


def test_admin_logs_in_and_sees_tools(app: Flask, client: FlaskClient) -> None:
    page = login(client, "admin")
    assert 'data-section="Tools"' in page.text
