"""In a call the patient sees themselves as "You"; the clinician sees them by name."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Browser, BrowserContext, expect

from tests.browser.conftest import browser_login
from tests.browser.test_video import contexts, new_page  # noqa: F401 (contexts is a fixture)
from tests.conftest import LiveServer


def test_the_patient_is_you_on_their_own_side(
    browser: Browser,
    contexts: list[BrowserContext],  # noqa: F811
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(async_mode="eventlet")
    clinician = new_page(browser, contexts)
    browser_login(clinician, server.url, "clinician1")
    clinician.goto(server.url + "/video/new")
    clinician.click("#video-new-start")
    expect(clinician).to_have_url(re.compile(r"/video/session/\d+$"))
    clinician.click("#video-patient-link")
    expect(clinician.locator("#video-link")).to_have_value(re.compile(r"/video/p/"))
    patient = new_page(browser, contexts)
    patient.goto(clinician.input_value("#video-link"))

    mine = patient.locator("#video-participants li[data-kind=patient]")
    expect(mine).to_have_text(re.compile(r"^You\b"))
    expect(patient.locator("#video-participants li[data-kind=staff]")).to_have_text(
        re.compile(r"^Casey Morgan")
    )
    expect(clinician.locator("#video-participants li[data-kind=patient]")).to_have_text(
        re.compile(r"^Patient\b")
    )
    expect(clinician.locator("#video-participants li[data-kind=staff]")).to_have_text(
        re.compile(r"^Casey Morgan \(you\)")
    )
    patient.fill("#video-chat-body", "Hello there")
    patient.press("#video-chat-body", "Enter")
    expect(patient.locator("#video-chat-log .video-chat-who")).to_have_text(["You:"])
    expect(clinician.locator("#video-chat-log .video-chat-who")).to_have_text(["Patient:"])
