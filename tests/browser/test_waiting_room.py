"""The waiting room in two browsers: a clinician's dashboard and a patient's invite link.

The patient runs the device check (Chromium's fake camera and microphone), checks in and
waits; the clinician sees the arrival live, they message each other, a refresh keeps the
patient's place, and the clinician admits the patient, who is told at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import TIMEOUT_MS, artifact_path, browser_login
from tests.conftest import LiveServer
from tests.waiting_room_helpers import make_invite

ASYNC_MODE = "eventlet"


@pytest.fixture
def patient_context(browser: Browser) -> Iterator[BrowserContext]:
    """A second browser: a phone-sized window with no back-office login."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()


def test_patient_joins_waits_chats_and_is_admitted_live(
    page: Page,
    patient_context: BrowserContext,
    live_server_factory: Callable[..., LiveServer],
    tmp_path: Path,
) -> None:
    server = live_server_factory(
        async_mode=ASYNC_MODE,
        BACKOFFICE_WAITING_ROOM_SESSION_URL="/session/{entry_id}",
        BACKOFFICE_WAITING_ROOM_HEARTBEAT="1",
    )
    invite = make_invite(server.database_url, tmp_path / "invites")

    clinician = page
    errors: list[str] = []
    clinician.on("pageerror", lambda error: errors.append(f"clinician: {error}"))
    browser_login(clinician, server.url, "clinician1")
    clinician.locator('#bo-nav a[data-menu="Live Waiting Room"]').click()
    expect(clinician).to_have_url(re.compile(r"/waiting-room/$"))
    dashboard = clinician.locator("#wr-dashboard")
    expect(dashboard).to_have_attribute("data-state", "live")
    expect(dashboard).to_have_attribute("data-filter", "mine")  # a clinician starts on "Mine"
    rings_before = clinician.evaluate("document.documentElement.dataset.wrRings || '0'")

    # The patient opens the invite link: practice name, device check, check-in form.
    patient = patient_context.new_page()
    patient.on("pageerror", lambda error: errors.append(f"patient: {error}"))
    patient.goto(f"{server.url}/join/{invite}")
    expect(patient.locator("#patient-practice")).to_have_text("Demo Behavioral Health")
    expect(patient.locator("#wr-step-check")).to_be_visible()
    patient.locator("#wr-check-start").click()
    expect(patient.locator("#wr-check-camera")).to_have_attribute("data-state", "ok")
    expect(patient.locator("#wr-check-microphone")).to_have_attribute("data-state", "ok")
    expect(patient.locator("#wr-check-connection")).to_have_attribute("data-state", "ok")
    patient.locator("#wr-check-continue").click()
    patient.locator("#wr-name").fill("Morgan Patient")
    patient.locator("#wr-join").click()
    expect(patient.locator("#wr-step-wait")).to_be_visible()
    expect(patient.locator("#wr-status")).to_have_attribute("data-status", "waiting")
    expect(patient.locator("#wr-position")).to_have_text(re.compile(r"^\d+(st|nd|rd|th) in line$"))
    expect(patient.locator("#wr-provider-status")).to_contain_text("Casey Morgan is online")
    # Its heartbeat runs off a worker's clock, which background tabs do not throttle.
    expect(patient.locator("#wr-patient")).to_have_attribute("data-clock", "worker")

    # The arrival shows live on the dashboard, with the device check's result.
    row = clinician.locator("#wr-rows tr", has_text="Morgan Patient")
    expect(row).to_be_visible()
    assert errors == []
    entry_id = row.get_attribute("data-entry-id")
    assert entry_id
    expect(row.locator(".wr-invite")).to_have_text("Appointment")
    expect(row.locator(".wr-device")).to_have_attribute("data-device", "ok")
    expect(row.locator(".wr-wait")).to_have_text(re.compile(r"^\d+:\d\d$"))
    expect(clinician.locator("html")).not_to_have_attribute("data-wr-rings", rings_before)

    # Messages, both ways.
    patient.locator("#wr-chat-input").fill("Hello, I'm ready when you are.")
    patient.locator("#wr-chat-send").click()
    expect(row.locator(".wr-unread")).to_have_text("1")
    row.locator('[data-action="message"]').click()
    chat = clinician.locator("#wr-chat-messages")
    expect(chat.locator(".wr-msg-patient")).to_contain_text("Hello, I'm ready when you are.")
    clinician.locator("#wr-chat-input").fill("Hi Morgan, starting in a minute.")
    clinician.locator("#wr-chat-send").click()
    expect(patient.locator("#wr-messages .wr-msg-staff")).to_contain_text(
        "Hi Morgan, starting in a minute."
    )

    # A refresh keeps the patient's entry, place and conversation.
    patient.reload()
    expect(patient.locator("#wr-step-wait")).to_be_visible()
    expect(patient.locator("#wr-patient")).to_have_attribute("data-entry-id", entry_id)
    expect(patient.locator("#wr-messages .wr-msg")).to_have_count(2)
    expect(row.locator(".wr-dot")).to_have_class(re.compile(r"wr-dot-online"))

    # Admit: the patient is told at once (banner and flashing title), the clinician gets
    # the session link.
    row.locator('[data-action="admit"]').click()
    expect(row.locator(".wr-status")).to_have_attribute("data-status", "admitted")
    expect(row.locator(".wr-open-session")).to_have_attribute("href", f"/session/{entry_id}")
    expect(patient.locator("#wr-admitted")).to_be_visible()
    expect(patient.locator("#wr-status")).to_have_attribute("data-status", "admitted")
    expect(patient).to_have_title(re.compile("It's your turn"))
    patient.screenshot(path=artifact_path("waiting-room-patient-admitted.png"), full_page=True)
    clinician.screenshot(path=artifact_path("waiting-room-dashboard.png"), full_page=True)
    assert errors == []
    assert "Traceback" not in server.log()
