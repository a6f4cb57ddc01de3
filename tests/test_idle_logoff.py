"""Idle logoff over raw HTTP: only a person's actions renew the session.

A live server with a three-second idle timeout; a ``requests`` session plays the browser.
Assets, the favicon, unknown URLs, HEAD requests, the shell's background fetches and the
idle-status poll must never keep a session alive; a keepalive (sent by the page after it saw
input) must, and a page opened after the deadline is signed out, never renewed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import requests

from tests.conftest import LiveServer, live_login

IDLE = 3
BACKGROUND = {"X-Backoffice-Background": "1", "Accept": "application/json"}


def idle_server(factory: Callable[..., LiveServer]) -> LiveServer:
    return factory(BACKOFFICE_SESSION_IDLE_TIMEOUT=str(IDLE), BACKOFFICE_SESSION_IDLE_WARNING="1")


def csrf_of(session: requests.Session, url: str) -> str:
    page = session.get(url + "/", timeout=10)
    match = re.search(r'data-csrf="([^"]+)"', page.text)
    assert match, page.text[:300]
    return match.group(1)


def idle_left(session: requests.Session, url: str) -> float:
    response = session.get(url + "/session/status", headers=BACKGROUND, timeout=10)
    assert response.status_code == 200, response.text[:200]
    return float(response.json()["idle_left"])


def not_a_persons_action(session: requests.Session, url: str) -> list[int]:
    """One round of what a page fetches without anyone touching it."""
    asset = {"Sec-Fetch-Dest": "script"}
    answers = [
        session.get(url + "/plugin-static/waiting_room/waiting_room/notify.js", timeout=10),
        session.get(url + "/favicon.ico", headers={"Sec-Fetch-Dest": "image"}, timeout=10),
        session.get(url + "/static/backoffice/shell.js", headers=asset, timeout=10),
        session.get(url + "/static/appbuilder/js/ab.js", headers=asset, timeout=10),
        session.get(url + "/no-such-page", timeout=10, allow_redirects=False),
        session.head(url + "/", timeout=10, allow_redirects=False),
        session.get(url + "/", headers=BACKGROUND, timeout=10, allow_redirects=False),
        session.get(url + "/", headers={"Sec-Fetch-Dest": "image"}, timeout=10),
    ]
    return [answer.status_code for answer in answers]


def test_assets_and_background_requests_never_renew_the_session(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = idle_server(live_server_factory)
    session = live_login(server.url, "clinician1")
    left = idle_left(session, server.url)
    assert IDLE - 1.0 < left <= IDLE
    statuses = not_a_persons_action(session, server.url)
    assert statuses[:4] == [200, 200, 200, 200], statuses  # they were really served
    assert statuses[4] == 404, statuses
    time.sleep(0.6)
    after = idle_left(session, server.url)
    assert after < left - 0.5, (left, after)  # the clock kept running
    deadline = time.monotonic() + IDLE + 1.0
    while time.monotonic() < deadline:
        not_a_persons_action(session, server.url)
        time.sleep(0.3)
    # Signed out on the way (a background request met the deadline and said so), not renewed.
    page = session.get(server.url + "/", headers={"Sec-Fetch-Dest": "document"}, timeout=10)
    assert "/login/" in page.url, page.url
    again = session.get(server.url + "/", timeout=10)
    assert "/login/" in again.url  # and it stays signed out


def test_a_page_opened_just_after_the_deadline_is_signed_out(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = idle_server(live_server_factory)
    session = live_login(server.url, "clinician1")
    time.sleep(idle_left(session, server.url) + 0.2)
    page = session.get(server.url + "/waiting-room/", timeout=10)
    assert "/login/" in page.url
    assert "period of inactivity" in page.text


def test_a_persons_actions_keep_the_session_alive(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = idle_server(live_server_factory)
    session = live_login(server.url, "clinician1")
    token = csrf_of(session, server.url)
    for _ in range(5):  # 5 s in all, beyond the timeout
        time.sleep(1.0)
        not_a_persons_action(session, server.url)
        answer = session.post(
            server.url + "/session/keepalive",
            headers={"X-CSRFToken": token, "Accept": "application/json"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text[:200]
        assert idle_left(session, server.url) > IDLE - 0.5
    page = session.get(server.url + "/", timeout=10)
    assert page.status_code == 200 and "/login/" not in page.url
