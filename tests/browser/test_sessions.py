"""One live login per username, one live tab per login, idle logoff: as a person sees them."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import browser_login
from tests.conftest import LiveServer

OVERLAY = "#bo-overlay"


def test_a_login_in_another_browser_ends_the_first_at_once(
    live_server_factory: Callable[..., LiveServer], browser: Browser, page: Page
) -> None:
    server = live_server_factory(async_mode="eventlet")
    browser_login(page, server.url, "clinician1")
    other = browser.new_context()
    try:
        second = other.new_page()
        browser_login(second, server.url, "clinician1")
        # The first browser is told without doing anything.
        expect(page.locator(OVERLAY)).to_be_visible()
        expect(page.locator(OVERLAY)).to_have_attribute("data-kind", "ended")
        expect(page.locator("#bo-overlay-message")).to_contain_text("another browser or device")
        page.click("#bo-overlay-action")
        expect(page).to_have_url(server.url + "/login/")
        # And its next request lands on the login page too.
        page.goto(server.url + "/tools/speedtest/")
        expect(page).to_have_url(re.compile(r"/login/"))
        expect(second.locator(OVERLAY)).to_be_hidden()
        expect(second.locator("#bo-username")).to_have_text("clinician1")
    finally:
        other.close()


def test_a_second_tab_is_told_and_can_take_over(
    live_server_factory: Callable[..., LiveServer], page: Page
) -> None:
    server = live_server_factory(async_mode="eventlet")
    browser_login(page, server.url, "clinician1")
    expect(page.locator(OVERLAY)).to_be_hidden()
    second = page.context.new_page()
    second.goto(server.url + "/")
    expect(second.locator("#bo-nav")).to_be_visible()
    expect(page.locator(OVERLAY)).to_have_attribute("data-kind", "elsewhere")
    expect(page.locator("#bo-overlay-message")).to_contain_text("open in another tab")
    expect(second.locator(OVERLAY)).to_be_hidden()
    page.click("#bo-overlay-action")  # "Use here"
    expect(page.locator(OVERLAY)).to_be_hidden()
    expect(second.locator(OVERLAY)).to_have_attribute("data-kind", "elsewhere")


def test_idle_warning_then_logoff(
    live_server_factory: Callable[..., LiveServer], page: Page
) -> None:
    server = live_server_factory(
        async_mode="eventlet",
        BACKOFFICE_SESSION_IDLE_TIMEOUT="6",
        BACKOFFICE_SESSION_IDLE_WARNING="4",
    )
    browser_login(page, server.url, "clinician1")
    overlay = page.locator(OVERLAY)
    expect(overlay).to_have_attribute("data-kind", "idle", timeout=6000)
    expect(page.locator("#bo-overlay-message")).to_contain_text("signed out in 4 seconds")
    page.click("#bo-overlay-action")  # "Stay signed in"
    expect(overlay).to_be_hidden()
    # Doing nothing now: warned again, then signed out with the reason.
    expect(overlay).to_have_attribute("data-kind", "idle", timeout=8000)
    expect(page).to_have_url(re.compile(r"/login/"), timeout=10000)
    expect(page.locator("body")).to_contain_text("period of inactivity")
