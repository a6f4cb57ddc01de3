"""A practice setting changed through one worker is seen by another within two seconds:
two real ``backoffice run`` processes sharing one database and one Redis message queue."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.conftest import LiveServer, csrf_token_from, live_login

NEW_NAME = "Riverside Family Therapy"


def _practice_name_seen(server: LiveServer) -> bool:
    page = requests.get(server.url + "/wait/demo-practice", timeout=5)
    return page.status_code == 200 and NEW_NAME in page.text


@pytest.mark.live
def test_a_setting_changed_on_one_worker_is_seen_on_the_other(
    redis_url: str, live_server_factory: Callable[..., LiveServer], databases: Any
) -> None:
    shared = {
        "database_url": databases.new("sqlite"),
        "message_queue": redis_url,
        "BACKOFFICE_SOCKETIO_CHANNEL": f"bo-settings-{uuid.uuid4().hex[:8]}",
    }
    worker_a = live_server_factory(**shared)
    worker_b = live_server_factory(**shared)
    assert not _practice_name_seen(worker_b)  # B has read the settings before the change

    admin = live_login(worker_a.url, "practiceadmin")
    form = admin.get(worker_a.url + "/settings/practice/", timeout=10)
    saved = admin.post(
        worker_a.url + "/settings/practice/",
        data={"csrf_token": csrf_token_from(form.text), "PRACTICE_NAME": NEW_NAME},
        allow_redirects=False,
        timeout=10,
    )
    assert saved.status_code == 303, saved.text[:500]
    changed_at = time.monotonic()
    assert _practice_name_seen(worker_a)  # the worker that saved it sees it at once

    while not _practice_name_seen(worker_b):
        assert time.monotonic() - changed_at < 2.0, "worker B did not see the change in 2 s"
        time.sleep(0.05)
    print(f"worker B saw the change after {time.monotonic() - changed_at:.2f}s")
    assert "Traceback" not in worker_a.log() and "Traceback" not in worker_b.log()
