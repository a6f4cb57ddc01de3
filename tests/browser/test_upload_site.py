"""The Upload Site in two browsers: staff send a one-time upload link, the patient uploads a
PDF and a photo from a phone, the clinician is told live and previews both inline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import create_engine, text

from tests.browser.conftest import TIMEOUT_MS, artifact_path, browser_login
from tests.conftest import LiveServer
from tests.upload_site_helpers import pdf, png


@pytest.fixture
def patient_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def last_link(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            body = connection.execute(
                text(
                    "SELECT body FROM bo_outbound_message WHERE source = 'upload_site' "
                    "ORDER BY id DESC LIMIT 1"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return next(word for word in body.split() if "/upload-site/u/" in word)


def test_patient_uploads_through_a_link_and_the_clinician_previews_it_live(
    page: Page,
    patient_context: BrowserContext,
    live_server_factory: Callable[..., LiveServer],
    tmp_path: Path,
) -> None:
    server = live_server_factory(async_mode="eventlet")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"clinician: {error}"))
    browser_login(page, server.url, "clinician1")
    # The menu opens the inbox in the dock (tests/browser/test_portal.py); here, as a page.
    page.goto(server.url + "/upload-site/")
    page.select_option("#upload-client", label="Rivera, Alex")
    page.click("#upload-open")
    expect(page.locator("#upload-client-page")).to_have_attribute("data-client-id", "1")

    page.locator("summary", has_text="Send an upload link").click()
    page.locator("#upload-link-form button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Upload link sent to Alex Rivera by SMS")
    link = last_link(server.database_url)
    assert link.startswith(server.url + "/upload-site/u/")

    patient = patient_context.new_page()
    patient.on("pageerror", lambda error: errors.append(f"patient: {error}"))
    patient.goto(link)
    expect(patient.locator("h1")).to_have_text("Upload documents")
    document, photo = tmp_path / "insurance.pdf", tmp_path / "card.png"
    document.write_bytes(pdf("Insurance card, front"))
    photo.write_bytes(png(120, 80, (20, 120, 200)))
    patient.set_input_files("#upload-file", [str(document), str(photo)])
    patient.fill("#upload-note", "Both sides of my card")
    patient.click("#upload-submit")
    expect(patient.locator("#upload-message")).to_contain_text("2 file(s) sent")

    # The clinician is told at once: the toast, the live row on this client's page, the badge.
    toast = page.locator(".upload-notification", has_text="insurance.pdf")
    expect(toast).to_contain_text("Alex Rivera uploaded insurance.pdf")
    expect(page.locator("#upload-files tr.upload-live")).to_have_count(2)
    expect(page.locator('#bo-nav a[data-menu="Inbox"] .upload-nav-count')).to_have_text("2")

    toast.click()
    frame = page.locator("#upload-preview-frame")
    expect(frame).to_be_visible()
    src = frame.get_attribute("src") or ""
    served = page.request.get(server.url + src)
    assert served.status == 200 and served.body() == pdf("Insurance card, front")
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"].startswith("sandbox")
    page.screenshot(path=artifact_path("upload_site-pdf-preview.png"))

    page.locator("a.upload-show", has_text="card.png").click()
    image = page.locator("#upload-preview-image")
    expect(image).to_be_visible()
    page.wait_for_function("document.getElementById('upload-preview-image').naturalWidth === 120")
    expect(page.locator('#bo-nav a[data-menu="Inbox"] .upload-nav-count')).to_be_hidden()

    # The link is used up.
    patient.goto(link)
    expect(patient.locator("#upload-message-title")).to_have_text("This upload link does not work")
    assert errors == []
