"""Arrival sounds and long-wait alerts as a clinician hears and sees them, in Chromium.

Chromium's own Notification and Web Audio run; an init script only counts what the page
hands them (each Notification made, each oscillator started and its context's state).
Patients check in over HTTP exactly as the patient page does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import Page, expect

from tests.browser.conftest import browser_login
from tests.conftest import LiveServer
from tests.waiting_room_helpers import check_in

COUNT_NOTIFICATIONS_AND_TONES = """
(() => {
  window.__notes = [];
  window.__tones = [];
  const Real = window.Notification;
  if (Real) {
    window.Notification = class extends Real {
      constructor(title, options) {
        window.__notes.push({ title: title, body: (options || {}).body, tag: (options || {}).tag });
        super(title, options);
      }
    };
  }
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__tones.push(this.context.state);
    return start.apply(this, args);
  };
})();
"""


def alert_server(factory: Callable[..., LiveServer], **extra: str) -> LiveServer:
    settings = {
        "BACKOFFICE_WAITING_ROOM_ALERT_PROVIDER_AFTER": "3",
        "BACKOFFICE_WAITING_ROOM_ALERT_PRACTICE_AFTER": "3600",
        "BACKOFFICE_WAITING_ROOM_STAFF_HEARTBEAT": "1",  # the sweep runs on staff heartbeats
        **extra,
    }
    server = factory(async_mode="eventlet", **settings)
    already_alerted(server.database_url)
    return server


def already_alerted(database_url: str) -> None:
    """The demo practice's patients have waited long already: their alerts are done."""
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE waiting_room_entry SET provider_alerted_at = CURRENT_TIMESTAMP,"
                " practice_alerted_at = CURRENT_TIMESTAMP"
            )
        )
    engine.dispose()


def listening(page: Page) -> None:
    page.context.grant_permissions(["notifications"])
    page.context.add_init_script(COUNT_NOTIFICATIONS_AND_TONES)


def notes(page: Page, tag: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "tag => window.__notes.filter(n => n.tag === tag)", tag
    )
    return found


def wait_for_notes(page: Page, tag: str, count: int) -> None:
    page.wait_for_function(
        "([tag, count]) => window.__notes.filter(n => n.tag === tag).length >= count",
        arg=[tag, count],
    )


def open_dashboard(page: Page, server: LiveServer) -> None:
    browser_login(page, server.url, "clinician1")
    page.locator('#bo-nav a[data-menu="Live Waiting Room"]').click()
    expect(page.locator("#wr-dashboard")).to_have_attribute("data-state", "live")


def test_six_simultaneous_long_waits_give_one_grouped_alert(
    page: Page, live_server_factory: Callable[..., LiveServer]
) -> None:
    server = alert_server(live_server_factory)
    listening(page)
    open_dashboard(page, server)
    for number in range(6):
        check_in(server.url, "/wait/demo-practice", name=f"Waiting Person {number}")
    wait_for_notes(page, "waiting-room-alert", 1)
    page.wait_for_timeout(3000)  # every alert fell due by now: no second notification
    [alert] = notes(page, "waiting-room-alert")
    assert alert["body"].startswith("6 patients have waited over 3 seconds: "), alert
    assert len(notes(page, "waiting-room-arrival")) == 1  # six arrivals, one per interval
    expect(page.locator("#wr-notice")).to_contain_text("6 patients have waited over 3 seconds")
    # The alert limiter is its own: one per interval, counted apart from arrivals.
    assert page.evaluate("Number(localStorage.getItem('waiting_room.lastAlert')) > 0")


def test_an_arrival_right_after_an_alert_still_rings(
    page: Page, live_server_factory: Callable[..., LiveServer]
) -> None:
    server = alert_server(live_server_factory, BACKOFFICE_WAITING_ROOM_NOTIFY_INTERVAL="2")
    listening(page)
    open_dashboard(page, server)
    check_in(server.url, "/wait/demo-practice", name="First Person")
    wait_for_notes(page, "waiting-room-arrival", 1)
    wait_for_notes(page, "waiting-room-alert", 1)  # 3 s later: past the arrival interval
    [alert] = notes(page, "waiting-room-alert")
    assert alert["body"] == "First Person has waited 3 seconds.", alert
    tones = page.evaluate("window.__tones.length")
    check_in(server.url, "/wait/demo-practice", name="Second Person")
    wait_for_notes(page, "waiting-room-arrival", 2)
    assert notes(page, "waiting-room-arrival")[1]["body"].startswith("Second Person checked in")
    page.wait_for_function("n => window.__tones.length > n", arg=tones)


def test_the_sound_stays_armed_across_three_pages_and_says_when_it_is_not(
    page: Page, live_server_factory: Callable[..., LiveServer]
) -> None:
    server = alert_server(live_server_factory)
    listening(page)
    browser_login(page, server.url, "clinician1")  # signing in is the gesture
    html = page.locator("html")
    expect(html).to_have_attribute("data-wr-sound", "armed")
    pages = (("Live Waiting Room", "/waiting-room/"), ("Speed Test", "/tools/speedtest/"))
    for menu, path in pages:
        page.locator(f'#bo-nav a[data-menu="{menu}"]').click()
        expect(page).to_have_url(re.compile(re.escape(path) + "$"))
        page.wait_for_load_state("load")
        expect(html).to_have_attribute("data-wr-sound", "armed")
        expect(page.locator("#wr-sound-state")).to_be_hidden()
    page.locator("a.bo-brand").click()
    expect(page).to_have_url(server.url + "/")
    expect(html).to_have_attribute("data-wr-sound", "armed")
    check_in(server.url, "/wait/demo-practice", name="Heard Person")
    wait_for_notes(page, "waiting-room-arrival", 1)
    page.wait_for_function("window.__tones.length > 0")
    assert set(page.evaluate("window.__tones")) == {"running"}  # really played

    # Opened by typing its address: no gesture carried over, and the page says so.
    page.goto(server.url + "/waiting-room/")
    expect(html).to_have_attribute("data-wr-sound", "not-armed")
    badge = page.locator("#wr-sound-state")
    expect(badge).to_be_visible()
    expect(badge).to_contain_text("click to turn it on")
    badge.click()
    expect(html).to_have_attribute("data-wr-sound", "armed")
    expect(badge).to_be_hidden()


def test_enable_notifications_is_hidden_once_granted(
    page: Page, live_server_factory: Callable[..., LiveServer]
) -> None:
    server = alert_server(live_server_factory)
    page.context.grant_permissions(["notifications"])
    open_dashboard(page, server)
    expect(page.locator("#wr-mute")).to_be_visible()
    expect(page.locator("#wr-notifications")).to_be_hidden()
