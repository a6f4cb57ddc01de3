"""Speed Test and Webcam Check, clicked through in Chromium with fake media devices."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import browser_login
from tests.conftest import LiveServer


def test_speed_test_measures_and_says_what_it_means(
    live_server_factory: Callable[..., LiveServer], page: Page
) -> None:
    server = live_server_factory(async_mode="eventlet")
    browser_login(page, server.url, "clinician1")
    page.goto(server.url + "/tools/speedtest/")
    page.click("#speedtest-start")
    expect(page.locator("#speedtest-verdict")).to_contain_text("Good for video", timeout=20000)
    expect(page.locator("#speedtest-latency")).to_contain_text("ms")
    expect(page.locator("#speedtest-download")).to_contain_text("Mbps")
    page.goto(server.url + "/tools/results/list/")
    expect(page.locator("body")).to_contain_text("Good for video sessions")


def test_webcam_check_previews_and_lists_devices(
    live_server_factory: Callable[..., LiveServer], page: Page
) -> None:
    server = live_server_factory(async_mode="eventlet")
    browser_login(page, server.url, "frontdesk")
    page.goto(server.url + "/tools/webcam/")
    page.click("#webcam-start")
    expect(page.locator("#webcam-advice")).to_contain_text("camera and microphone work")
    expect(page.locator("body")).to_have_attribute("data-webcam-check", "ok")
    assert page.locator("#webcam-camera option").count() >= 1
    assert page.locator("#webcam-mic option").count() >= 1
    page.wait_for_function("document.getElementById('webcam-preview').videoWidth > 0")
