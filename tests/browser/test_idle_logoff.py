"""Idle logoff in Chromium with a short timeout: a page that keeps fetching assets is still
signed out on time, and a reload just after the deadline lands on the login form."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import browser_login
from tests.conftest import LiveServer

IDLE = 5
# Assets and the favicon, fetched the way a page does (scripts, images) every 400 ms.
FETCH_ASSETS = """() => {
  window.assetTimer = setInterval(() => {
    const img = new Image(); img.src = "/favicon.ico?" + Date.now();
    const s = document.createElement("script");
    s.src = "/plugin-static/waiting_room/waiting_room/ticker.js?" + Date.now();
    s.nonce = document.querySelector("script[nonce]").nonce;
    document.body.appendChild(s);
  }, 400);
}"""


def idle_server(factory: Callable[..., LiveServer]) -> LiveServer:
    return factory(
        async_mode="eventlet",
        BACKOFFICE_SESSION_IDLE_TIMEOUT=str(IDLE),
        BACKOFFICE_SESSION_IDLE_WARNING="2",
    )


def test_asset_requests_do_not_keep_an_idle_page_signed_in(
    live_server_factory: Callable[..., LiveServer], page: Page
) -> None:
    server = idle_server(live_server_factory)
    assets: list[str] = []

    def seen(request: Request) -> None:
        if "/plugin-static/" in request.url or "/favicon.ico" in request.url:
            assets.append(request.url)

    page.on("request", seen)
    browser_login(page, server.url, "clinician1")
    signed_in = time.monotonic()
    page.evaluate(FETCH_ASSETS)
    expect(page.locator("#bo-overlay")).to_have_attribute("data-kind", "idle")
    expect(page).to_have_url(re.compile(r"/login/"), timeout=(IDLE + 8) * 1000)
    took = time.monotonic() - signed_in
    expect(page.locator("body")).to_contain_text("period of inactivity")
    assert len(assets) > 8, assets  # the page really kept fetching
    assert IDLE - 1 < took < IDLE + 6, took  # on time: neither early nor renewed


def test_a_reload_just_after_the_deadline_signs_out(
    live_server_factory: Callable[..., LiveServer], page: Page
) -> None:
    server = idle_server(live_server_factory)
    browser_login(page, server.url, "clinician1")
    page.evaluate(FETCH_ASSETS)
    left = page.evaluate(
        """() => fetch("/session/status", {headers: {"X-Backoffice-Background": "1"}})
             .then(r => r.json()).then(d => d.idle_left)"""
    )
    page.wait_for_timeout(left * 1000 + 300)  # before the page's own ask (2 s margin)
    page.reload()
    expect(page).to_have_url(re.compile(r"/login/"))
    expect(page.locator("body")).to_contain_text("period of inactivity")
