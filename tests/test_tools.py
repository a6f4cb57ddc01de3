"""The Tools plugin: speed-test endpoints, recorded results and the pages."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.database import db
from core.models import AuditEntry
from core.realtime import socketio_of
from plugins.tools import verdict
from plugins.tools.models import SpeedTestResult
from tests.commit_counter import count_commits, engine_of
from tests.conftest import login


def test_download_sends_exactly_the_bytes_asked(client: FlaskClient) -> None:
    login(client, "clinician1")
    response = client.get("/tools/speedtest/download?bytes=150000")
    assert response.status_code == 200
    assert len(response.data) == 150_000
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Length"] == "150000"


def test_download_refuses_bad_sizes(client: FlaskClient) -> None:
    login(client, "clinician1")
    for bad in ("abc", "0", "-5", "2000001"):
        response = client.get(f"/tools/speedtest/download?bytes={bad}")
        assert response.status_code == 400, bad
        assert "bytes must be" in response.get_json()["error"]


def test_upload_counts_the_body_and_caps_it(client: FlaskClient) -> None:
    login(client, "clinician1")
    page = client.get("/tools/speedtest/").text
    headers = {"X-CSRFToken": re.search(r'data-csrf="([^"]+)"', page).group(1)}  # type: ignore[union-attr]
    ok = client.post("/tools/speedtest/upload", data=b"x" * 50_000, headers=headers)
    assert ok.status_code == 200 and ok.get_json() == {"received": 50_000}
    too_big = client.post("/tools/speedtest/upload", data=b"x" * 8_000_001, headers=headers)
    assert too_big.status_code == 413 and "at most" in too_big.get_json()["error"]
    no_token = client.post("/tools/speedtest/upload", data=b"x")
    assert no_token.status_code == 400  # CSRF


def test_anonymous_cannot_measure(client: FlaskClient) -> None:
    assert client.get("/tools/speedtest/download?bytes=10").status_code == 302


def test_verdicts_in_plain_words() -> None:
    assert verdict.verdict(40, 25, 10) == verdict.GOOD
    assert verdict.verdict(250, 2, 1) == verdict.FAIR
    assert verdict.verdict(900, 0.5, 0.2) == verdict.POOR


def test_results_are_recorded_and_each_user_sees_their_own(app: Flask, client: FlaskClient) -> None:
    login(client, "clinician1")
    sio = socketio_of(app).test_client(app, namespace="/staff", flask_test_client=client)
    figures = {"latency_ms": 35.0, "download_mbps": 40.0, "upload_mbps": 12.0}
    ack = sio.emit("tools.record_speed_test", figures, namespace="/staff", callback=True)
    assert ack["ok"] and ack["data"]["verdict"] == verdict.GOOD
    with app.app_context():
        row = db.session.scalars(select(SpeedTestResult)).one()
        assert (row.latency_ms, row.verdict) == (35.0, verdict.GOOD)
    assert "Good for video sessions" in client.get("/tools/results/list/").text
    other = app.test_client()
    login(other, "clinician2")
    assert "Good for video sessions" not in other.get("/tools/results/list/").text


def test_pages_render_for_staff(client: FlaskClient) -> None:
    login(client, "frontdesk")
    speed = client.get("/tools/speedtest/")
    webcam = client.get("/tools/webcam/")
    assert speed.status_code == 200 and 'id="speedtest-start"' in speed.text
    assert webcam.status_code == 200 and 'id="webcam-preview"' in webcam.text


def test_a_recorded_speed_test_is_one_commit_with_its_audit_row(
    app: Flask, client: FlaskClient
) -> None:
    login(client, "clinician1")
    sio = socketio_of(app).test_client(app, namespace="/staff", flask_test_client=client)
    figures = {"latency_ms": 35.0, "download_mbps": 40.0, "upload_mbps": 12.0}
    with count_commits(engine_of(app)) as commits:
        ack = sio.emit("tools.record_speed_test", figures, namespace="/staff", callback=True)
    assert ack["ok"], ack
    assert commits.count == 1
    with app.app_context():
        entry = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "tools.speed_test_recorded")
        ).one()
        assert (entry.target, entry.actor) == (f"result:{ack['data']['id']}", "clinician1")
    sio.disconnect(namespace="/staff")
