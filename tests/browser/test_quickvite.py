"""Patient QuickVite in Chromium: sent from the top bar of a page that is not the waiting
room, by text (the outbox) and by email (a real aiosmtpd server), and followed by the
patient into the waiting room, where staff see the invite type "QuickVite"."""

from __future__ import annotations

import email
import re
from collections.abc import Callable, Iterator
from email.message import Message

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import TIMEOUT_MS, browser_login
from tests.conftest import LiveServer, free_port
from tests.test_messaging import CollectingHandler

LINK = re.compile(r"https?://\S+/join/[A-Za-z0-9_-]+")


@pytest.fixture
def patient_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def mailbox() -> Iterator[tuple[CollectingHandler, int]]:
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, int(controller.port)
    finally:
        controller.stop()


def _text_of(raw: bytes) -> str:
    parsed: Message = email.message_from_bytes(raw)
    parts = parsed.walk() if parsed.is_multipart() else [parsed]
    return "".join(
        str(part.get_payload(decode=True).decode())  # type: ignore[union-attr]
        for part in parts
        if part.get_content_type() == "text/plain"
    )


def _send(page: Page, *, name: str, phone: str = "", address: str = "") -> str:
    dialog = page.locator("#qv-dialog")
    expect(dialog).to_be_visible()
    dialog.locator('[name="name"]').fill(name)
    dialog.locator('[name="phone"]').fill(phone)
    dialog.locator('[name="email"]').fill(address)
    dialog.locator(".qv-send").click()
    expect(dialog.locator(".qv-result")).to_be_visible()
    link = dialog.locator(".qv-link").input_value()
    assert LINK.fullmatch(link), link
    expect(dialog.locator(".qv-qr")).to_have_attribute("src", re.compile("^data:image/svg"))
    return link


def _join(patient: Page, link: str, name: str) -> None:
    patient.goto(link)
    patient.locator("#wr-check-start").click()
    patient.locator("#wr-check-continue").click()
    patient.locator("#wr-name").fill(name)
    patient.locator("#wr-join").click()
    expect(patient.locator("#wr-status")).to_have_attribute("data-status", "waiting")


def test_a_quickvite_from_the_top_bar_by_text_and_email_reaches_the_waiting_room(
    live_server_factory: Callable[..., LiveServer],
    page: Page,
    patient_context: BrowserContext,
    mailbox: tuple[CollectingHandler, int],
) -> None:
    handler, port = mailbox
    server = live_server_factory(
        async_mode="eventlet",
        BACKOFFICE_MAIL_SERVER="127.0.0.1",
        BACKOFFICE_MAIL_PORT=str(port),
    )
    browser_login(page, server.url, "frontdesk")
    page.goto(server.url + "/tools/speedtest/")  # not the waiting room

    # A wrong number is named on its field, and nothing is sent.
    page.click("#bo-quickvite")
    dialog = page.locator("#qv-dialog")
    dialog.locator('[name="name"]').fill("Wrong Number")
    dialog.locator('[name="phone"]').fill("555 12")
    dialog.locator(".qv-send").click()
    expect(dialog.locator('[data-field="phone"] .qv-error')).to_contain_text("not")
    expect(dialog.locator(".qv-result")).to_be_hidden()

    # By text: the outbox keeps the message with the link.
    dialog.locator('[name="phone"]').fill("(212) 555-0123")
    dialog.locator(".qv-send").click()
    expect(dialog.locator('.qv-deliveries [data-channel="sms"]')).to_contain_text(
        "recorded in the outbox for +12125550123"
    )
    sms_link = dialog.locator(".qv-link").input_value()
    engine = sa.create_engine(server.database_url)
    with engine.connect() as connection:
        bodies = connection.execute(
            sa.text("SELECT body FROM bo_outbound_message WHERE channel = 'sms'")
        ).scalars()
        assert any(sms_link in body for body in bodies)
    engine.dispose()
    dialog.locator("button.close").click()
    expect(dialog).to_be_hidden()

    # By email, from another page, opened with the keyboard shortcut this time.
    page.goto(server.url + "/tools/webcam/")
    page.locator("body").press("Alt+q")
    email_link = _send(page, name="Email Patient", address="patient@example.org")
    expect(dialog.locator('.qv-deliveries [data-channel="email"]')).to_contain_text(
        "sent to patient@example.org"
    )
    (envelope,) = handler.envelopes
    found = LINK.search(_text_of(envelope.original_content or b""))
    assert found is not None and found.group(0) == email_link

    # Recent invites, open while the patients follow their links, changes live.
    page.goto(server.url + "/settings/quickvite/")
    expect(page.locator('#qv-recent tr[data-status="sent"]')).to_have_count(2)
    page.wait_for_function("window.backofficeSocket && window.backofficeSocket.connected")
    _join(patient_context.new_page(), sms_link, "Text Patient")
    expect(page.locator('#qv-recent tr[data-status="arrived"]')).to_have_count(1)
    _join(patient_context.new_page(), email_link, "Email Patient")
    expect(page.locator('#qv-recent tr[data-status="arrived"]')).to_have_count(2)

    # In the waiting room both show the invite type QuickVite.
    page.goto(server.url + "/waiting-room/")
    for name in ("Text Patient", "Email Patient"):
        row = page.locator("#wr-rows tr", has_text=name)
        expect(row.locator(".wr-invite")).to_have_text("QuickVite")
    assert "Traceback" not in server.log()
