"""Calendar → consent → session link → waiting room, as a clinician and a patient see it.

A real server (eventlet), Debian's Chromium, a real SMTP server: the clinician opens an
appointment on the calendar, confirms it, starts the telehealth session, sends the consent
form to the portal; the patient signs it on a phone-sized screen; the clinician is notified
live, opens the session screen, adds the missing email address and presses Next; the
patient follows the emailed link to ``/join/<token>``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from core.api import Client, resolve_invite
from core.app import create_app
from core.database import db
from core.models import OutboundMessage
from core.testing.plugin import SmtpCapture
from plugins.calendar.models import Appointment
from plugins.consent.models import ConsentRecord
from tests.browser.conftest import artifact_path, browser_login
from tests.conftest import DatabaseFactory, LiveServer, base_overrides

DAY = "2031-03-04"
SENDER = "Demo Practice <practice@clinic.example.org>"


@pytest.fixture
def inbox(smtp_capture: SmtpCapture) -> tuple[SmtpCapture, int]:
    """The installed ``smtp_capture`` (a real aiosmtpd server) and its port."""
    return smtp_capture, smtp_capture.port


def checker_app(database_url: str, folder: Path) -> Flask:
    """An app on the live server's database, to prepare data and check what it stored."""
    return create_app(base_overrides(database_url, folder))


def test_from_the_calendar_to_the_waiting_room(
    page: Page,
    browser: Browser,
    databases: DatabaseFactory,
    live_server_factory: Callable[..., LiveServer],
    inbox: tuple[SmtpCapture, int],
    tmp_path: Path,
    backend: str,
) -> None:
    mail, mail_port = inbox
    database_url = databases.new(backend)
    app = checker_app(database_url, tmp_path / "checker")
    with app.app_context():
        sm = app.extensions["appbuilder"].sm
        devon = db.session.scalar(sa.select(Client).where(Client.first_name == "Devon"))
        assert devon is not None and devon.email is None and devon.phone
        appointment = Appointment(
            client_id=devon.id,
            clinician_id=sm.find_user(username="clinician1").id,
            start_at=dt.datetime(2031, 3, 4, 10, 0),
            end_at=dt.datetime(2031, 3, 4, 10, 50),
            contact_type="Telehealth",
            status="Scheduled",
            notes="Follow-up",
        )
        db.session.add(appointment)
        db.session.commit()
        pk, devon_id = appointment.id, devon.id
        has_waiting_room = "waiting_room_patient.join" in app.view_functions
        db.session.remove()
    server = live_server_factory(
        async_mode="eventlet",
        database_url=database_url,
        BACKOFFICE_MAIL_SERVER="127.0.0.1",
        BACKOFFICE_MAIL_PORT=str(mail_port),
        BACKOFFICE_MAIL_DEFAULT_SENDER=SENDER,
    )

    # The clinician opens the appointment from the calendar.
    browser_login(page, server.url, "clinician1")
    page.locator('#bo-nav a[data-menu="Calendar"]').click()
    expect(page.locator("#calendar .fc-view")).to_be_visible()
    expect(page.locator("#calendar .fc-event").first).to_be_visible()  # the demo's day
    page.screenshot(path=artifact_path("calendar-week.png"), full_page=True)
    page.goto(f"{server.url}/calendar/?date={DAY}&view=timeGridDay")
    event = page.locator(f'#calendar .fc-event[data-appointment-id="{pk}"]')
    expect(event).to_be_visible()
    expect(event).to_contain_text("Devon Patel")
    page.screenshot(path=artifact_path("calendar-day.png"), full_page=True)
    event.click()
    expect(page).to_have_url(re.compile(rf"/calendar/appointments/{pk}$"))
    page.wait_for_load_state("load")  # its scripts have run

    # Scheduled: no Start Telehealth Session until the status allows it.
    start = page.locator("#start-telehealth")
    expect(start).to_be_hidden()
    expect(page.locator("#telehealth-why")).to_contain_text("The status is Scheduled")
    page.select_option("#status", "Confirmed")
    expect(start).to_be_visible()
    page.screenshot(path=artifact_path("calendar-session-details.png"), full_page=True)
    start.click()

    # The consent step: send the form to the portal by SMS (Devon's phone is on file).
    expect(page).to_have_url(re.compile(r"/consent/start\?ticket="))
    page.wait_for_load_state("load")  # its scripts have run
    expect(page.locator("#consent-summary")).to_contain_text("Devon Patel")
    expect(page.locator("#send-channel-sms")).to_be_checked()
    page.click("#consent-send")
    expect(page.locator("#consent-pending")).to_be_visible()
    page.screenshot(path=artifact_path("consent-start-pending.png"), full_page=True)
    with app.app_context():
        sms = db.session.scalar(
            sa.select(OutboundMessage)
            .where(OutboundMessage.source == "consent", OutboundMessage.channel == "sms")
            .order_by(OutboundMessage.id.desc())
        )
        assert sms is not None and sms.status == "recorded"
        portal = re.search(r"http://127\.0\.0\.1:\d+/portal/consent/[A-Za-z0-9_-]+", sms.body)
        assert portal, sms.body
        db.session.remove()

    # The patient reads the form on a phone, accepts and signs by drawing.
    patient_context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        patient = patient_context.new_page()
        patient.goto(portal.group(0))
        expect(patient.locator("h1")).to_have_text("Informed consent for telehealth services")
        patient.click("#portal-accept")
        pad = patient.locator("#signature-pad")
        expect(pad).to_be_visible()
        pad.scroll_into_view_if_needed()
        box = pad.bounding_box()
        assert box is not None
        patient.mouse.move(box["x"] + 20, box["y"] + box["height"] * 0.7)
        patient.mouse.down()
        for step in range(1, 25):
            patient.mouse.move(
                box["x"] + 20 + step * 12,
                box["y"] + box["height"] * (0.7 - 0.4 * ((step % 6) / 6)),
                steps=2,
            )
        patient.mouse.up()
        patient.screenshot(path=artifact_path("portal-signed.png"), full_page=True)
        patient.click("#portal-sign-submit")
        expect(patient.locator("#portal-done")).to_have_attribute("data-decision", "accepted")
        expect(patient.locator("h1")).to_contain_text("Thank you, Devon")

        # The clinician is told at once and opens the session screen from the notification.
        note = page.locator("#consent-notifications .consent-notification")
        expect(note).to_be_visible()
        expect(note).to_have_attribute("data-decision", "accepted")
        expect(note).to_contain_text("Devon Patel accepted and signed the consent form")
        page.screenshot(path=artifact_path("consent-notified.png"), full_page=True)
        note.click()
        expect(page).to_have_url(re.compile(r"/consent/link\?ticket="))
        page.wait_for_load_state("load")  # its scripts have run
        expect(page.locator("#consent-on-file")).to_contain_text("digital, accepted")

        # Devon has no email address: add it on this screen, then Next.
        page.check("#link-channel-email")
        email_field = page.locator("#link-email")
        expect(email_field).to_be_visible()
        email_field.fill("devon@")
        page.click("#consent-next")
        expect(page.locator('.consent-error[data-field="email"]')).to_contain_text(
            "That email address cannot be used"
        )
        page.check("#link-channel-email")
        page.fill("#link-email", "devon.patel@example.org")
        page.click("#consent-next")
        result = page.locator("#consent-link-result")
        expect(result).to_contain_text("Session link sent to Devon Patel by email")
        expect(page.locator("#consent-link-sent")).to_have_attribute("data-status", "sent")
        page.screenshot(path=artifact_path("consent-link-sent.png"), full_page=True)
        shown = page.locator("#consent-session-url").input_value()

        (email,) = mail.messages()
        assert email["To"] == "devon.patel@example.org"
        join = re.search(r"http://127\.0\.0\.1:\d+/join/([A-Za-z0-9_-]+)", email.get_content())
        assert join, email.get_content()
        assert join.group(0) == shown
        with app.app_context():
            invite = resolve_invite(join.group(1))
            assert invite is not None and invite.kind == "appointment"
            assert invite.client_id == devon_id
            assert invite.reference.startswith(f"calendar:{pk}@")  # "<what>@<when>"
            assert db.session.get(Client, devon_id).email == "devon.patel@example.org"
            record = db.session.scalar(
                sa.select(ConsentRecord).where(ConsentRecord.client_id == devon_id)
            )
            assert record is not None and record.signature_kind == "drawn"
            assert record.signature and record.signature.startswith("data:image/png;base64,")
            assert db.session.get(Appointment, pk).status == "Confirmed"
            db.session.remove()

        # The patient follows the link into the waiting room.
        if not has_waiting_room:
            pytest.skip("the waiting_room plugin's join page (waiting_room_patient.join) is absent")
        response = patient.goto(join.group(0))
        assert response is not None and response.status == 200
        expect(patient).to_have_url(join.group(0))
        patient.screenshot(path=artifact_path("patient-join.png"), full_page=True)
    finally:
        patient_context.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
