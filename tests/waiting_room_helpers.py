"""Helpers shared by the waiting room's live and browser tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import requests
from flask import Flask

from tests.conftest import base_overrides


def make_invite(
    database_url: str, instance: Path, kind: str = "appointment", provider: str = "clinician1"
) -> str:
    """An invite link's token, made with the host's own service on a server's database."""
    from core.api import create_invite
    from core.app import create_app
    from core.database import db

    app: Flask = create_app(base_overrides(database_url, instance))
    with app.test_request_context():
        user = app.extensions["appbuilder"].sm.find_user(username=provider)
        token = create_invite(kind, source="tests", provider_id=user.id).token
        db.session.remove()
        db.engine.dispose()
    return token


def check_in(base_url: str, path: str, **body: Any) -> dict[str, Any]:
    """What the patient page does: open the link, then post the check-in form."""
    http = requests.Session()
    page = http.get(base_url + path, timeout=10)
    assert page.status_code == 200, page.text[:300]
    match = re.search(r'data-csrf="([^"]+)"', page.text)
    assert match, "no CSRF token on the patient page"
    response = http.post(
        base_url + path + "/enter",
        json={"name": "Pat Live", **body},
        headers={"X-CSRFToken": match.group(1)},
        timeout=10,
    )
    assert response.status_code in {200, 201}, response.text
    data: dict[str, Any] = response.json()
    return data
