from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import login


def test_health_reports_plugins(client: FlaskClient) -> None:
    body = client.get("/health").get_json()
    assert body["status"] == "ok"
    assert {"name": "tools", "version": "1.0.0", "state": "enabled"} in body["plugins"]


def test_admin_logs_in_and_sees_tools(app: Flask, client: FlaskClient) -> None:
    page = login(client, "admin")
    assert 'data-section="Tools"' in page.text
