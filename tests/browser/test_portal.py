"""The Patient Portal and the dock in Chromium.

A patient on a 360 px wide phone asks for a code by email (a real SMTP server), signs in,
sees a telehealth appointment, joins it into the waiting room (invite type "appointment")
and signs a consent form. Staff open Patient Portal in the dock, which sits beside or below
the page and never covers its controls, minimise it, and find it again on the next page.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Locator, Page, expect

from core.api import Client, create_invite
from core.app import create_app
from core.database import db
from core.models import PatientInvite
from core.testing.plugin import SmtpCapture
from plugins.calendar.models import Appointment
from plugins.consent.models import ConsentRecord, ConsentRequest
from plugins.consent.service import current_form
from plugins.waiting_room.models import WaitingEntry
from tests.browser.conftest import TIMEOUT_MS, artifact_path, browser_login
from tests.conftest import DatabaseFactory, LiveServer, base_overrides
from tests.upload_site_helpers import pdf

SENDER = "Demo Practice <practice@clinic.example.org>"
MINIMISED = re.compile(r"\bminimised\b")


@pytest.fixture
def inbox(smtp_capture: SmtpCapture) -> tuple[SmtpCapture, int]:
    """The installed ``smtp_capture`` (a real aiosmtpd server) and its port."""
    return smtp_capture, smtp_capture.port


def prepare(app: Flask) -> tuple[int, int]:
    """Alex has a telehealth appointment in five minutes and a consent form to answer."""
    with app.app_context(), app.test_request_context():
        alex = db.session.scalar(sa.select(Client).where(Client.first_name == "Alex"))
        assert alex is not None and alex.email
        clinician = app.extensions["appbuilder"].sm.find_user(username="clinician1")
        start = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) + dt.timedelta(
            minutes=5
        )
        appointment = Appointment(
            client_id=alex.id,
            clinician_id=clinician.id,
            start_at=start,
            end_at=start + dt.timedelta(minutes=50),
            contact_type="Telehealth",
            status="Confirmed",
        )
        issued = create_invite("portal", source="consent", client_id=alex.id, commit=False)
        request = ConsentRequest(
            client_id=alex.id,
            clinician_id=clinician.id,
            invite_id=issued.invite.id,
            reference="calendar:0",
            form_version=current_form().version,
            channel="email",
        )
        db.session.add_all([appointment, request])
        db.session.commit()
        ids = appointment.id, request.id
        db.session.remove()
        return ids


def assert_fits(page: Page, width: int) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"the page is {overflow} px wide on a {width} px screen"


def test_a_patient_signs_in_by_email_joins_and_signs(
    browser: Browser,
    databases: DatabaseFactory,
    live_server_factory: Callable[..., LiveServer],
    inbox: tuple[SmtpCapture, int],
    tmp_path: Path,
) -> None:
    mail, mail_port = inbox
    database_url = databases.new("sqlite")
    app = create_app(base_overrides(database_url, tmp_path / "checker"))
    appointment_id, request_id = prepare(app)
    server = live_server_factory(
        async_mode="eventlet",
        database_url=database_url,
        BACKOFFICE_MAIL_SERVER="127.0.0.1",
        BACKOFFICE_MAIL_PORT=str(mail_port),
        BACKOFFICE_MAIL_DEFAULT_SENDER=SENDER,
    )
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    staff = browser.new_context(viewport={"width": 1400, "height": 900})
    staff.set_default_timeout(TIMEOUT_MS)
    try:
        patient = context.new_page()
        patient.goto(server.url + "/portal/")
        expect(patient).to_have_url(re.compile(r"/portal/sign-in"))
        assert_fits(patient, 360)
        patient.fill("#pp-address", "alex.rivera@example.com")
        patient.click("#pp-send-code")
        expect(patient.locator("#pp-code-sent")).to_be_visible()
        for _ in range(100):
            if mail.messages():
                break
            patient.wait_for_timeout(100)
        (message,) = mail.messages()
        code = re.search(r"\b(\d{6})\b", message.get_content())
        assert code, message.get_content()
        patient.fill("#pp-code", code.group(1))
        patient.click("#pp-check-code")
        expect(patient.locator("h1")).to_have_text("Hello Alex")
        expect(patient.locator("#pp-sections a")).to_have_text(
            ["Appointments", "Consent forms", "My uploads", "Past visits"]
        )
        assert_fits(patient, 360)
        patient.screenshot(path=artifact_path("portal-home-360.png"), full_page=True)

        # The appointment, with Join open (five minutes to go, Join opens 15 before).
        patient.locator('#pp-sections a[data-section="appointments"]').click()
        row = patient.locator(f'.cal-portal-appointment[data-appointment-id="{appointment_id}"]')
        expect(row).to_contain_text("Telehealth with")
        join = row.locator(".cal-portal-join")
        expect(join).to_be_enabled()
        assert_fits(patient, 360)
        patient.screenshot(path=artifact_path("portal-appointments-360.png"), full_page=True)
        join.click()
        expect(patient).to_have_url(re.compile(r"/join/[A-Za-z0-9_-]+$"))
        expect(patient.locator("#wr-patient")).to_have_attribute("data-invite-kind", "appointment")
        expect(patient.locator("#patient-practice")).to_be_visible()  # the core patient base
        expect(patient.locator("#wr-step-check")).to_be_visible()
        patient.locator("#wr-check-skip").click()
        patient.locator("#wr-name").fill("Alex Rivera")
        patient.locator("#wr-join").click()
        expect(patient.locator("#wr-step-wait")).to_be_visible()
        expect(patient.locator("#wr-status")).to_have_attribute("data-status", "waiting")
        assert_fits(patient, 360)
        patient.screenshot(path=artifact_path("portal-joined-waiting-room-360.png"), full_page=True)
        with app.app_context():
            invite = db.session.scalar(
                sa.select(PatientInvite).where(PatientInvite.source == "calendar")
            )
            assert invite is not None and invite.kind == "appointment"
            assert invite.reference and invite.reference.startswith(f"calendar:{appointment_id}@")
            entry = db.session.scalar(
                sa.select(WaitingEntry).where(WaitingEntry.invite_id == invite.id)
            )
            assert entry is not None and entry.invite_kind == "appointment"
            assert entry.client_id == invite.client_id and entry.appointment_at is not None
            db.session.remove()

        # Back in the portal: the consent form, read, accepted and signed by typing.
        patient.goto(server.url + "/portal/forms")
        form_row = patient.locator(f'.consent-open-form[data-request-id="{request_id}"]')
        form_row.locator("a").click()
        expect(patient.locator("h1")).to_have_text("Informed consent for telehealth services")
        expect(patient.locator("#pp-nav")).to_be_visible()
        assert_fits(patient, 360)
        patient.click("#portal-accept")
        patient.click("#sign-type-mode")
        patient.fill("#typed-name", "Alex Rivera")
        patient.click("#portal-sign-submit")
        expect(patient.locator("#portal-done")).to_have_attribute("data-decision", "accepted")
        patient.screenshot(path=artifact_path("portal-consent-done-360.png"), full_page=True)
        with app.app_context():
            record = db.session.scalar(sa.select(ConsentRecord))
            assert record is not None and record.request_id == request_id
            assert record.signature == "Alex Rivera"
            db.session.remove()
        patient.click("#portal-back-to-forms")
        expect(patient.locator("#consent-none-pending")).to_be_visible()

        # A PDF from "My uploads", while the clinician keeps the Upload Site in the dock.
        clinician = staff.new_page()
        browser_login(clinician, server.url, "clinician1")
        clinician.locator(
            '#bo-nav li.bo-section[data-section="Upload Site"] a.bo-dock-open'
        ).first.click()
        dock, inside = clinician.locator("#bo-dock"), clinician.frame_locator("#bo-dock-frame")
        expect(dock).to_be_visible()
        inside.locator("#upload-client").select_option(label="Rivera, Alex")
        inside.locator("#upload-open").click()
        expect(inside.locator("#upload-client-page")).to_have_attribute("data-client-id", "1")

        patient.locator("#pp-nav a", has_text="My uploads").click()
        document = tmp_path / "referral.pdf"
        document.write_bytes(pdf("Referral letter"))
        patient.set_input_files("#upload-file", str(document))
        patient.click("#upload-submit")
        expect(patient.locator("#upload-mine")).to_contain_text("referral.pdf")
        assert_fits(patient, 360)

        # Told at once, in the dock: the live row; previewed there, inline.
        expect(inside.locator("#upload-files tr.upload-live")).to_have_count(1)
        inside.locator("a.upload-show", has_text="referral.pdf").click()
        preview = inside.locator("#upload-preview-frame")
        expect(preview).to_be_visible()
        served = clinician.request.get(server.url + (preview.get_attribute("src") or ""))
        assert served.status == 200 and served.body() == pdf("Referral letter")
        clinician.screenshot(path=artifact_path("portal-upload-previewed-in-dock.png"))
        # Minimised, another page, restored: the preview is still where it was.
        clinician.locator("#bo-dock-toggle").click()
        expect(dock).to_have_class(MINIMISED)
        clinician.locator('#bo-nav a[data-menu="Speed Test"]').click()
        expect(clinician).to_have_url(re.compile(r"/tools/speedtest/$"))
        expect(dock).to_have_class(MINIMISED)
        clinician.locator("#bo-dock-toggle").click()
        expect(dock).not_to_have_class(MINIMISED)
        expect(inside.locator("#upload-client-page")).to_have_attribute("data-client-id", "1")

        patient.click("#pp-sign-out")
        expect(patient).to_have_url(re.compile(r"/portal/sign-in$"))
        patient.goto(server.url + "/portal/forms")
        expect(patient).to_have_url(re.compile(r"/portal/sign-in"))
    finally:
        context.close()
        staff.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# --- the dock ---------------------------------------------------------------------------------

UNCOVERED = """() => {
  // What the page shows (it scrolls inside its own area while the dock is at the bottom).
  const shown = document.querySelector('.bo-shell').getBoundingClientRect();
  const covered = [];
  for (const el of document.querySelectorAll('.bo-shell a, .bo-shell button, .bo-shell input')) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height) continue;
    const x = box.left + box.width / 2, y = box.top + box.height / 2;
    const right = Math.min(innerWidth, shown.right), bottom = Math.min(innerHeight, shown.bottom);
    if (x < Math.max(0, shown.left) || y < Math.max(0, shown.top)) continue;
    if (x >= right || y >= bottom) continue;
    const hit = document.elementFromPoint(x, y);
    if (hit && !el.contains(hit) && !hit.contains(el)) covered.push(el.id || el.textContent.trim());
  }
  return covered;
}"""


def controls_covered(page: Page) -> list[str]:
    return cast(list[str], page.evaluate(UNCOVERED))


def clickable(locator: Locator) -> None:
    """Playwright's actionability check, hit target included, without clicking."""
    locator.click(trial=True, timeout=3000)


def test_the_dock_pushes_the_page_and_keeps_its_state(
    page: Page, live_server_factory: Callable[..., LiveServer]
) -> None:
    server = live_server_factory(
        async_mode="eventlet", BACKOFFICE_DOCK_SITES='{"Lab results": "/health"}'
    )
    browser_login(page, server.url, "clinician1")
    page.goto(server.url + "/tools/webcam/")
    page.wait_for_load_state("load")
    link = page.locator('#bo-nav li.bo-section[data-section="Patient Portal"] a.bo-dock-open')
    expect(link).to_have_text("Portal Access")
    dock = page.locator("#bo-dock")
    inside = page.frame_locator("#bo-dock-frame")
    toggle = page.locator("#bo-dock-toggle")
    expect(dock).to_be_hidden()

    link.click()
    expect(dock).to_be_visible()
    expect(page).to_have_url(server.url + "/tools/webcam/")  # the dock opened, not a page
    expect(dock).to_have_attribute("data-placement", "side")
    expect(inside.locator("#portal-find")).to_be_visible()
    expect(inside.locator("#bo-nav")).to_have_count(0)
    shell = page.locator(".bo-shell").bounding_box()
    panel = dock.bounding_box()
    assert shell and panel and shell["x"] + shell["width"] <= panel["x"] + 1
    clickable(page.locator("#bo-logout"))  # top right: under a floating window before
    clickable(page.locator("#webcam-start"))
    assert controls_covered(page) == []
    page.screenshot(path=artifact_path("dock-side.png"))

    # Resizing by dragging its edge: the page gives way.
    handle = page.locator("#bo-dock-handle").bounding_box()
    assert handle
    page.mouse.move(handle["x"] + 4, handle["y"] + 200)
    page.mouse.down()
    page.mouse.move(handle["x"] - 200, handle["y"] + 200, steps=5)
    page.mouse.up()
    wider = dock.bounding_box()
    assert wider and wider["width"] >= panel["width"] + 150
    assert controls_covered(page) == []

    # The staff's page works inside: find a client.
    inside.locator("#portal-q").fill("rivera")
    inside.locator("#portal-find-submit").click()
    expect(inside.locator("#portal-results")).to_contain_text("Alex Rivera")

    # At the bottom, the page still shows every control above the panel.
    page.locator("#bo-dock-placement").click()
    expect(dock).to_have_attribute("data-placement", "bottom")
    clickable(page.locator("#webcam-start"))
    clickable(page.locator("#bo-logout"))
    assert controls_covered(page) == []
    page.screenshot(path=artifact_path("dock-bottom.png"))

    # Minimised to a tab bar; another page; a reload: the dock is where it was.
    toggle.click()
    expect(dock).to_have_class(MINIMISED)
    expect(page.locator("#bo-dock-frame")).to_be_hidden()
    bar = dock.bounding_box()
    assert bar and bar["height"] <= 40
    assert controls_covered(page) == []
    page.locator('#bo-nav a[data-menu="Speed Test"]').click()
    expect(page).to_have_url(re.compile(r"/tools/speedtest/$"))
    page.wait_for_load_state("load")
    expect(dock).to_be_visible()
    expect(dock).to_have_class(MINIMISED)
    expect(dock.locator(".bo-dock-title")).to_have_text("Patient Portal")
    clickable(page.locator("#speedtest-start"))
    page.reload()
    expect(dock).to_have_class(MINIMISED)
    toggle.click()
    expect(dock).not_to_have_class(MINIMISED)
    expect(dock).to_have_attribute("data-placement", "bottom")
    # It reopens on the page it showed: the search made inside it.
    expect(inside.locator("#portal-results")).to_contain_text("Alex Rivera")
    assert controls_covered(page) == []

    # An external site of DOCK_SITES opens in the same dock.
    page.locator('#bo-nav li.bo-section[data-section="Sites"] a.bo-dock-open').click()
    expect(dock.locator(".bo-dock-title")).to_have_text("Lab results")
    expect(page.locator("#bo-dock-frame")).to_have_attribute("src", "/health")

    page.locator("#bo-dock-close").click()
    expect(dock).to_be_hidden()
    page.reload()
    expect(page.locator("#bo-nav")).to_be_visible()
    expect(dock).to_be_hidden()
