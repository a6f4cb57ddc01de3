"""Staff Chat in two real browsers: a clinician and the front desk talk, badges follow."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Browser, Locator, Page, expect

from plugins.staff_chat.chat import DEMO_PRACTICE
from tests.browser.conftest import artifact_path, browser_login
from tests.conftest import LiveServer

NAV_LINK = '#bo-nav a[data-menu="Messages"]'
BADGE = NAV_LINK + " .staff-chat-badge"
ASYNC_MODE = "eventlet"


def open_messages(page: Page) -> None:
    page.locator(NAV_LINK).click()
    expect(page).to_have_url(re.compile(r"/chat/"))
    expect(page.locator("#staff-chat-title")).to_have_text("Practice channel")


def channel_link(page: Page, title: str) -> Locator:
    return page.locator("#staff-chat-channels a.staff-chat-channel", has_text=title)


def test_clinician_and_front_desk_chat_live_and_the_badges_follow(
    live_server_factory: Callable[..., LiveServer], browser: Browser, page: Page
) -> None:
    server = live_server_factory(async_mode=ASYNC_MODE)
    desk = page
    browser_login(desk, server.url, "frontdesk")
    # The demo practice: others' practice messages and one DM wait for the front desk.
    waiting = len([who for who, _text in DEMO_PRACTICE if who != "frontdesk"]) + 1
    expect(desk.locator(BADGE)).to_have_text(str(waiting))

    other = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        casey = other.new_page()
        browser_login(casey, server.url, "clinician1")
        expect(casey.locator(BADGE)).to_have_text("3")  # three practice messages by others
        open_messages(casey)
        history = casey.locator("#staff-chat-messages")
        expect(history.locator(".staff-chat-msg")).to_have_count(len(DEMO_PRACTICE))
        expect(casey.locator(BADGE)).to_be_hidden()  # reading the channel cleared it

        channel_link(casey, "Riley Desk").click()
        expect(casey.locator("#staff-chat-title")).to_have_text("Riley Desk")
        expect(history).to_contain_text("Could you resend the QuickVite")

        text = "<b>Room 3</b> is free & the 2:00 can go in"
        casey.fill("#staff-chat-body", text)
        casey.press("#staff-chat-body", "Enter")
        mine = history.locator(".staff-chat-msg.mine").last
        expect(mine.locator(".staff-chat-text")).to_have_text(text)
        expect(casey.locator("#staff-chat-body")).to_have_value("")

        # The front desk, on the home page, sees the badge go up without reloading.
        expect(desk.locator(BADGE)).to_have_text(str(waiting + 1))
        open_messages(desk)  # opening the practice channel reads it
        dm = channel_link(desk, "Casey Morgan")
        expect(dm.locator(".staff-chat-unread")).to_have_text("2")
        expect(desk.locator(BADGE)).to_have_text("2")
        dm.click()
        expect(desk.locator("#staff-chat-title")).to_have_text("Casey Morgan")
        received = desk.locator("#staff-chat-messages .staff-chat-msg").last
        expect(received.locator(".staff-chat-text")).to_have_text(text)  # text, not markup
        expect(received.locator(".staff-chat-text b")).to_have_count(0)
        expect(desk.locator(BADGE)).to_be_hidden()
        expect(dm.locator(".staff-chat-unread")).to_be_hidden()

        # A reply lands in the clinician's open conversation; nothing is left unread there.
        desk.fill("#staff-chat-body", "On it, sending now.")
        desk.locator("#staff-chat-send").click()
        expect(history.locator(".staff-chat-msg").last).to_contain_text("On it, sending now.")
        expect(channel_link(casey, "Riley Desk").locator(".staff-chat-preview")).to_have_text(
            "On it, sending now."
        )
        expect(casey.locator(BADGE)).to_be_hidden()

        # A practice message while the clinician reads the DM shows up as unread for her.
        desk.locator("#staff-chat-channels a.staff-chat-channel").first.click()
        desk.fill("#staff-chat-body", "Lunch is in the kitchen.")
        desk.press("#staff-chat-body", "Enter")
        expect(casey.locator(BADGE)).to_have_text("1")
        expect(channel_link(casey, "Practice channel").locator(".staff-chat-unread")).to_have_text(
            "1"
        )
        casey.screenshot(path=artifact_path("staff-chat-clinician.png"), full_page=True)
    finally:
        other.close()
