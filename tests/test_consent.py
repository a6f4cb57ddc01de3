"""The Consent plugin: verbal and digital consent, validity, immutable records, the session
link by SMS (outbox) and email (a real SMTP server), contacts added on the spot, templates."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask
from flask.testing import FlaskClient

from core.api import Client, resolve_invite
from core.database import db
from core.models import AuditEntry, OutboundMessage, PatientInvite
from core.realtime import socketio_of
from plugins.consent import events as consent_events
from plugins.consent.models import (
    ConsentFormVersion,
    ConsentRecord,
    ConsentRequest,
    ImmutableRecordError,
    MessageTemplate,
    SessionLink,
)
from tests.commit_counter import Commits, count_commits, engine_of
from tests.conftest import free_port, login
from tests.test_calendar import add_appointment, at, client_id, user_id

SENDER = "Demo Practice <practice@clinic.example.org>"
JOIN = re.compile(r"http://localhost/join/([A-Za-z0-9_-]{32})")
PORTAL = re.compile(r"http://localhost/portal/consent/([A-Za-z0-9_-]{32})")


# --- a real SMTP server (the pattern of tests/test_messaging.py) ------------------------------


class CollectingHandler:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    host: str
    port: int
    handler: CollectingHandler

    def messages(self) -> list[EmailMessage]:
        return [
            cast(EmailMessage, message_from_bytes(cast(bytes, e.content), policy=default_policy))
            for e in self.handler.envelopes
        ]


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpSink("127.0.0.1", int(controller.port), handler)
    finally:
        controller.stop()


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(WTF_CSRF_ENABLED=False)


@pytest.fixture
def mail_app(make_app: Callable[..., Flask], smtp_server: SmtpSink) -> Flask:
    return make_app(
        WTF_CSRF_ENABLED=False,
        MAIL_SERVER=smtp_server.host,
        MAIL_PORT=smtp_server.port,
        MAIL_DEFAULT_SENDER=SENDER,
        MAIL_SUPPRESS_SEND=False,
    )


@pytest.fixture
def domain_events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Domain events the consent plugin emits (and still delivers)."""
    seen: list[tuple[str, dict[str, Any]]] = []
    original = consent_events.emit_domain_event

    def spy(name: str, payload: dict[str, Any], *, source: str) -> None:
        seen.append((name, payload))
        original(name, payload, source=source)

    monkeypatch.setattr(consent_events, "emit_domain_event", spy)
    from plugins.consent import views

    monkeypatch.setattr(views, "emit_domain_event", spy)
    return seen


def signed_in(app: Flask, username: str = "clinician1") -> FlaskClient:
    client = app.test_client()
    login(client, username)
    return client


def start_session(
    app: Flask, clinician: FlaskClient, first_name: str = "Devon", hour: int = 10
) -> tuple[int, str]:
    """An appointment the rule allows, and the consent screen's URL the calendar hands over."""
    pk = add_appointment(
        app,
        client_id=client_id(app, first_name),
        status="Confirmed",
        start_at=at(hour),
        end_at=at(hour, 50),
    )
    response = clinician.post(f"/calendar/appointments/{pk}/start")
    assert response.status_code == 303, response.text
    location = response.headers["Location"]
    assert location.startswith("/consent/start?ticket=")
    return pk, location


def ticket_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["ticket"][0]


def png_data_url() -> str:
    """A real (tiny) PNG, as the signature pad sends it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    width, height = 40, 20
    rows = b"".join(b"\x00" + bytes([255, 255, 255] * width) for _ in range(height))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode()


def records(app: Flask, first_name: str) -> list[ConsentRecord]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                sa.select(ConsentRecord)
                .where(ConsentRecord.client_id == client_id(app, first_name))
                .order_by(ConsentRecord.id)
            )
        )
        db.session.expunge_all()
        return rows


def messages(app: Flask) -> list[OutboundMessage]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                sa.select(OutboundMessage)
                .where(OutboundMessage.source == "consent")
                .order_by(OutboundMessage.id)
            )
        )
        db.session.expunge_all()
        return rows


def audits(app: Flask, action: str) -> list[AuditEntry]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))
        db.session.expunge_all()
        return rows


def client_row(app: Flask, first_name: str) -> Client:
    with app.app_context():
        row = db.session.get(Client, client_id(app, first_name))
        db.session.expunge_all()
        assert row is not None
        return row


def send_form(clinician: FlaskClient, start: str, **form: str) -> Any:
    return clinician.post("/consent/send", data={"ticket": ticket_of(start), **form})


def portal_token(app: Flask) -> str:
    found = PORTAL.search(messages(app)[-1].body)
    assert found, messages(app)[-1].body
    return found.group(1)


def verbal(clinician: FlaskClient, start: str) -> str:
    response = clinician.post("/consent/verbal", data={"ticket": ticket_of(start)})
    assert response.status_code == 303, response.text
    assert response.headers["Location"].startswith("/consent/link?ticket=")
    return str(response.headers["Location"])


def staff_socket(app: Flask, client: FlaskClient) -> Any:
    sio = socketio_of(app).test_client(app, namespace="/staff", flask_test_client=client)
    assert sio.is_connected("/staff")
    return sio


def decided(sio: Any) -> list[dict[str, Any]]:
    return [m["args"][0] for m in sio.get_received("/staff") if m["name"] == "consent.decided"]


# --- the start screen is reachable only through the calendar ----------------------------------


def test_consent_screens_need_the_calendars_ticket(app: Flask) -> None:
    clinician = signed_in(app)
    _pk, start = start_session(app, clinician)
    page = clinician.get(start)
    assert page.status_code == 200
    assert "Accept Verbal Consent" in page.text and "Send Consent Form to Portal" in page.text
    assert "Devon Patel" in page.text and "2031" in page.text

    for url, words in [
        ("/consent/start", "Open this screen with Start Telehealth Session"),
        ("/consent/start?ticket=forged.ticket", "This start link is not valid"),
        (start[:-3] + "abc", "This start link is not valid"),
        ("/consent/link", "Open this screen with Start Telehealth Session"),
    ]:
        refused = clinician.get(url)
        assert refused.status_code == 400, url
        assert words in refused.text, url
    assert clinician.post("/consent/verbal", data={"ticket": "forged"}).status_code == 400
    assert send_form(clinician, "/consent/start?ticket=forged", channel="sms").status_code == 400

    other = signed_in(app, "clinician2")
    borrowed = other.get(start)
    assert borrowed.status_code == 400 and "started by another user" in borrowed.text
    assert signed_in(app, "frontdesk").get(start).status_code == 403

    app.config["CONSENT_TICKET_MAX_AGE"] = -1
    expired = clinician.get(start)
    assert expired.status_code == 400 and "has expired" in expired.text
    assert records(app, "Devon") == []


# --- verbal consent -----------------------------------------------------------------------------


def test_verbal_consent_is_recorded_with_clinician_time_and_form_version(
    app: Flask, domain_events: list[tuple[str, dict[str, Any]]]
) -> None:
    clinician = signed_in(app)
    pk, start = start_session(app, clinician)
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    link = verbal(clinician, start)
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    (record,) = records(app, "Devon")
    with app.app_context():
        form = db.session.scalar(
            sa.select(ConsentFormVersion).where(ConsentFormVersion.version == 1)
        )
        assert form is not None
        body = form.body
    assert (record.kind, record.decision) == ("verbal", "accepted")
    assert record.clinician_id == user_id(app, "clinician1")
    assert before <= record.recorded_at <= after
    assert record.form_version == 1
    assert record.form_hash == hashlib.sha256(body.encode()).hexdigest()
    assert record.valid_until == record.recorded_at + dt.timedelta(days=365)
    assert record.reference == f"calendar:{pk}"
    assert record.signature is None and record.request_id is None
    (entry,) = audits(app, "consent.verbal_recorded")
    assert entry.actor == "clinician1" and entry.target == f"consent:{record.id}"
    assert domain_events == [
        (
            "consent.recorded",
            {
                "client_id": record.client_id,
                "consent_id": record.id,
                "reference": f"calendar:{pk}",
                "kind": "verbal",
            },
        )
    ]

    screen = clinician.get(link)
    assert screen.status_code == 200
    assert "Consent on file: verbal, accepted" in screen.text and "Next" in screen.text
    # A valid consent skips the consent step next time.
    again = clinician.get(start)
    assert again.status_code == 303 and again.headers["Location"].startswith("/consent/link?")
    assert audits(app, "consent.step_skipped")


# --- digital consent in the portal ---------------------------------------------------------


def test_digital_consent_accepted_and_signed_by_drawing(
    app: Flask, domain_events: list[tuple[str, dict[str, Any]]]
) -> None:
    clinician = signed_in(app)
    sio = staff_socket(app, clinician)
    pk, start = start_session(app, clinician)
    sent = send_form(clinician, start, channel="sms")
    assert sent.status_code == 303
    (message,) = messages(app)
    assert (message.channel, message.recipient, message.status) == (
        "sms",
        "+15555550103",
        "recorded",
    )
    assert "telehealth consent form" in message.body
    token = portal_token(app)
    with app.app_context():
        invite = resolve_invite(token)
        assert invite is not None
        assert (invite.kind, invite.source, invite.reference) == (
            "portal",
            "consent",
            f"calendar:{pk}",
        )
    waiting = clinician.get(start)
    assert 'id="consent-pending"' in waiting.text and "waiting for Devon" in waiting.text

    patient = app.test_client()
    page = patient.get(f"/portal/consent/{token}")
    assert page.status_code == 200
    assert "Informed consent for telehealth services" in page.text
    assert "I accept" in page.text and "I decline" in page.text
    assert "signature_pad-5.1.4/signature_pad.umd.min.js" in page.text
    assert "bo-sidebar" not in page.text  # the portal has its own layout
    assert audits(app, "consent.portal_opened")

    blank = patient.post(
        f"/portal/consent/{token}",
        data={"decision": "accept", "signature_kind": "drawn", "signature": ""},
    )
    assert blank.status_code == 400 and "Sign in the box" in blank.text
    broken = patient.post(
        f"/portal/consent/{token}",
        data={
            "decision": "accept",
            "signature_kind": "drawn",
            "signature": "data:image/png;base64,AAAA",
        },
    )
    assert broken.status_code == 400 and "damaged" in broken.text
    assert records(app, "Devon") == []

    signature = png_data_url()
    done = patient.post(
        f"/portal/consent/{token}",
        data={"decision": "accept", "signature_kind": "drawn", "signature": signature},
    )
    assert done.status_code == 200 and "Thank you, Devon" in done.text
    (record,) = records(app, "Devon")
    assert (record.kind, record.decision, record.signature_kind) == ("digital", "accepted", "drawn")
    assert record.signature == signature
    assert record.clinician_id == user_id(app, "clinician1")
    assert record.valid_until is not None and record.reference == f"calendar:{pk}"
    assert (audits(app, "consent.accepted")[0].details or {})["by"] == f"client:{record.client_id}"

    (note,) = decided(sio)
    assert note["state"] == "accepted" and note["client_name"] == "Devon Patel"
    assert note["consent_id"] == record.id and note["client_id"] == record.client_id
    assert note["link_url"].startswith("/consent/link?ticket=")
    assert clinician.get(note["link_url"]).status_code == 200  # selecting it opens the screen
    snapshot = sio.emit(
        "consent.request_status",
        {"request_id": note["request_id"]},
        namespace="/staff",
        callback=True,
    )
    assert snapshot["ok"] and snapshot["data"]["state"] == "accepted"
    assert (
        "consent.recorded",
        {
            "client_id": record.client_id,
            "consent_id": record.id,
            "reference": f"calendar:{pk}",
            "kind": "digital",
        },
    ) in domain_events

    # The link is spent; the record can be viewed and printed (and each read is audited).
    gone = patient.get(f"/portal/consent/{token}")
    assert gone.status_code == 404 and "no longer valid" in gone.text
    assert patient.post(f"/portal/consent/{token}", data={"decision": "decline"}).status_code == 404
    shown = clinician.get(f"/consent/records/{record.id}")
    assert shown.status_code == 200 and f'src="{signature}"' in shown.text
    assert "matches the stored text" in shown.text
    printed = clinician.get(f"/consent/records/{record.id}/print")
    assert printed.status_code == 200 and "consent-print" in printed.text
    assert "bo-sidebar" not in printed.text
    listed = signed_in(app, "frontdesk").get("/consent/records/")
    assert listed.status_code == 200 and "Devon Patel" in listed.text
    assert audits(app, "consent.record_viewed") and audits(app, "consent.record_printed")
    assert audits(app, "consent.records_listed")
    sio.disconnect(namespace="/staff")


def test_digital_consent_accepted_with_a_typed_signature_by_email(
    mail_app: Flask, smtp_server: SmtpSink
) -> None:
    app = mail_app
    clinician = signed_in(app)
    _pk, start = start_session(app, clinician, first_name="Brooke")
    assert send_form(clinician, start, channel="email").status_code == 303
    (email,) = smtp_server.messages()
    assert email["To"] == "brooke.chen@example.com"
    assert email["Subject"] == "Your telehealth consent form from Demo Behavioral Health"
    found = PORTAL.search(email.get_content())
    assert found, email.get_content()
    patient = app.test_client()
    short = patient.post(
        f"/portal/consent/{found.group(1)}",
        data={"decision": "accept", "signature_kind": "typed", "typed_name": " B "},
    )
    assert short.status_code == 400 and "Type your full name" in short.text
    done = patient.post(
        f"/portal/consent/{found.group(1)}",
        data={"decision": "accept", "signature_kind": "typed", "typed_name": "  Brooke   Chen "},
    )
    assert done.status_code == 200
    (record,) = records(app, "Brooke")
    assert (record.kind, record.decision, record.signature_kind, record.signature) == (
        "digital",
        "accepted",
        "typed",
        "Brooke Chen",
    )
    page = clinician.get(f"/consent/records/{record.id}")
    assert 'class="consent-typed-signature" id="consent-signature">Brooke Chen<' in page.text


def test_digital_consent_declined(
    app: Flask, domain_events: list[tuple[str, dict[str, Any]]]
) -> None:
    clinician = signed_in(app)
    sio = staff_socket(app, clinician)
    pk, start = start_session(app, clinician, first_name="Alex")
    assert send_form(clinician, start, channel="sms").status_code == 303
    token = portal_token(app)
    done = app.test_client().post(f"/portal/consent/{token}", data={"decision": "decline"})
    assert done.status_code == 200 and "You declined telehealth" in done.text
    (record,) = records(app, "Alex")
    assert (record.kind, record.decision, record.valid_until, record.signature) == (
        "digital",
        "declined",
        None,
        None,
    )
    (note,) = decided(sio)
    assert note["state"] == "declined" and note["link_url"] is None
    assert domain_events[-1][0] == "consent.declined"
    assert audits(app, "consent.declined")

    page = clinician.get(start)
    assert page.status_code == 200 and 'id="consent-declined"' in page.text
    assert 'id="consent-pending"' not in page.text
    refused = clinician.get("/consent/link?ticket=" + ticket_of(start))
    assert refused.status_code == 303 and refused.headers["Location"].startswith("/consent/start")
    nothing = clinician.post("/consent/link", data={"ticket": ticket_of(start), "channel": "sms"})
    assert nothing.status_code == 400
    assert "Record the client's consent" in html.unescape(nothing.text)
    # The client changes their mind on the phone: a verbal consent supersedes the decline.
    verbal(clinician, start)
    assert [r.decision for r in records(app, "Alex")] == ["declined", "accepted"]
    sio.disconnect(namespace="/staff")


def test_a_new_form_replaces_the_unanswered_one(app: Flask) -> None:
    clinician = signed_in(app)
    _pk, start = start_session(app, clinician, first_name="Alex")
    send_form(clinician, start, channel="sms")
    first = portal_token(app)
    send_form(clinician, start, channel="email")
    second = portal_token(app)
    assert first != second
    patient = app.test_client()
    assert patient.get(f"/portal/consent/{first}").status_code == 404
    assert patient.get(f"/portal/consent/{second}").status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentRequest)) == 2
    # Consent taken by phone meanwhile: the form in the portal is withdrawn.
    verbal(clinician, start)
    assert patient.get(f"/portal/consent/{second}").status_code == 404


def test_portal_refuses_unknown_and_other_links(app: Flask) -> None:
    patient = app.test_client()
    for token in ("x" * 32, "short"):
        page = patient.get(f"/portal/consent/{token}")
        assert page.status_code == 404 and "no longer valid" in page.text
    with app.app_context():
        from core.api import create_invite

        with app.test_request_context():
            other = create_invite("portal", source="someone_else").token
    assert patient.get(f"/portal/consent/{other}").status_code == 404


# --- validity -----------------------------------------------------------------------------------


def add_record(app: Flask, first_name: str, decision: str, days_ago: int, valid_days: int) -> None:
    with app.app_context():
        recorded = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=days_ago)
        db.session.add(
            ConsentRecord(
                client_id=client_id(app, first_name),
                kind="verbal",
                decision=decision,
                form_version=1,
                form_hash="0" * 64,
                clinician_id=user_id(app, "clinician2"),
                reference="calendar:0",
                recorded_at=recorded,
                valid_until=recorded + dt.timedelta(days=valid_days)
                if decision == "accepted"
                else None,
            )
        )
        db.session.commit()


def test_a_valid_consent_skips_the_step_an_expired_or_withdrawn_one_does_not(
    app: Flask,
) -> None:
    clinician = signed_in(app)
    add_record(app, "Alex", "accepted", days_ago=400, valid_days=365)
    _pk, start = start_session(app, clinician, first_name="Alex")
    assert clinician.get(start).status_code == 200  # expired: ask again

    add_record(app, "Alex", "accepted", days_ago=10, valid_days=365)
    skipped = clinician.get(start)
    assert skipped.status_code == 303 and "/consent/link?" in skipped.headers["Location"]
    follow = clinician.get(start, follow_redirects=True)
    assert "has a valid consent on file" in follow.text

    add_record(app, "Alex", "declined", days_ago=1, valid_days=0)
    assert clinician.get(start).status_code == 200  # a later decline withdraws it


def test_without_a_validity_period_consent_covers_only_its_own_appointment(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, CONSENT_VALIDITY_DAYS=0)
    clinician = signed_in(app)
    _pk, start = start_session(app, clinician, first_name="Alex")
    link = verbal(clinician, start)
    assert clinician.get(link).status_code == 200
    _other, next_start = start_session(app, clinician, first_name="Alex", hour=15)
    assert clinician.get(next_start).status_code == 200  # asked again for another appointment


# --- immutability ---------------------------------------------------------------------------


def test_consent_records_and_form_versions_are_immutable(app: Flask) -> None:
    clinician = signed_in(app)
    _pk, start = start_session(app, clinician)
    verbal(clinician, start)
    (record,) = records(app, "Devon")
    with app.app_context():
        row = db.session.get(ConsentRecord, record.id)
        assert row is not None
        row.decision = "declined"
        with pytest.raises(ImmutableRecordError):
            db.session.commit()
        db.session.rollback()
        row = db.session.get(ConsentRecord, record.id)
        db.session.delete(row)
        with pytest.raises(ImmutableRecordError):
            db.session.flush()
        db.session.rollback()
        form = db.session.scalar(sa.select(ConsentFormVersion))
        form.body = "changed"
        with pytest.raises(ImmutableRecordError):
            db.session.flush()
        db.session.rollback()
        # Below the application, the database refuses too.
        for statement in (
            "UPDATE consent_record SET decision = 'declined'",
            "DELETE FROM consent_record",
            "UPDATE consent_form_version SET body = 'changed'",
            "DELETE FROM consent_form_version",
        ):
            with pytest.raises(sa.exc.DBAPIError, match="immutable"):
                db.session.execute(sa.text(statement))
            db.session.rollback()
    assert [r.decision for r in records(app, "Devon")] == ["accepted"]
    # And no page offers to change one.
    assert clinician.post(f"/consent/records/{record.id}").status_code == 405
    for username in ("practiceadmin", "admin"):  # not even the Admin role: not a permission
        admin = signed_in(app, username)
        assert admin.get("/consent/forms/edit/1").status_code == 403
        assert admin.get("/consent/forms/delete/1").status_code == 403


def test_a_new_form_version_is_used_for_new_consents(app: Flask) -> None:
    admin = signed_in(app, "practiceadmin")
    added = admin.post(
        "/consent/forms/add", data={"title": "Telehealth consent 2031", "body": "New terms."}
    )
    assert added.status_code == 302
    with app.app_context():
        newest = db.session.scalar(
            sa.select(ConsentFormVersion).order_by(ConsentFormVersion.version.desc()).limit(1)
        )
        assert newest is not None
        assert (newest.version, newest.created_by) == (2, "practiceadmin")
        assert newest.body_hash == hashlib.sha256(b"New terms.").hexdigest()
    assert audits(app, "consent.form_version_added")
    clinician = signed_in(app)
    _pk, start = start_session(app, clinician)
    assert "(version 2)" in clinician.get(start).text
    verbal(clinician, start)
    assert records(app, "Devon")[0].form_version == 2
    assert clinician.get("/consent/forms/add").status_code == 403


# --- the session link: contacts, SMS outbox, email over SMTP -----------------------------------


def test_missing_phone_is_added_validated_and_the_link_goes_to_the_sms_outbox(
    app: Flask, domain_events: list[tuple[str, dict[str, Any]]]
) -> None:
    clinician = signed_in(app)
    pk, start = start_session(app, clinician, first_name="Emery")
    link = verbal(clinician, start)
    screen = clinician.get(link)
    assert "no mobile number on file" in screen.text
    assert "Add Emery's mobile number" in html.unescape(screen.text)
    assert "emery.johnson@example.com" in screen.text
    ticket = ticket_of(start)

    missing = clinician.post("/consent/link", data={"ticket": ticket, "channel": "sms"})
    assert missing.status_code == 400
    assert "Emery has no mobile number on file: add one to send by SMS." in missing.text
    for bad in ("12", "call me", "+1 555", "555-555-012345"):
        refused = clinician.post(
            "/consent/link", data={"ticket": ticket, "channel": "sms", "phone": bad}
        )
        assert refused.status_code == 400, bad
        assert "That mobile number cannot be used" in refused.text, bad
    wrong = clinician.post("/consent/link", data={"ticket": ticket, "channel": "fax"})
    assert wrong.status_code == 400 and "Choose SMS or email." in wrong.text
    assert client_row(app, "Emery").phone is None
    assert messages(app) == []

    sent = clinician.post(
        "/consent/link", data={"ticket": ticket, "channel": "sms", "phone": "(555) 555-0199"}
    )
    assert sent.status_code == 200, sent.text
    assert client_row(app, "Emery").phone == "+15555550199"
    (added,) = audits(app, "consent.client_contact_added")
    assert added.details == {"field": "phone"} and added.actor == "clinician1"
    (message,) = messages(app)
    assert (message.channel, message.recipient, message.status) == (
        "sms",
        "+15555550199",
        "recorded",
    )
    found = JOIN.search(message.body)
    assert found, message.body
    assert "Demo Behavioral Health" in message.body and "Casey Morgan" in message.body
    assert "2031" in message.body  # the appointment's time
    assert 'data-status="recorded"' in sent.text and "recorded in the SMS outbox" in sent.text
    assert found.group(0) in sent.text  # shown once, to read out if need be
    with app.app_context():
        invite = resolve_invite(found.group(1))
        assert invite is not None
        assert (invite.kind, invite.client_id, invite.provider_id) == (
            "appointment",
            client_id(app, "Emery"),
            user_id(app, "clinician1"),
        )
        # "<what>@<when>": the waiting room shows the appointment time from it.
        assert invite.reference == f"calendar:{pk}@2031-03-04T10:00:00Z"
        assert invite.expires_at > dt.datetime.now(dt.UTC).replace(tzinfo=None)
        link_row = db.session.scalar(sa.select(SessionLink))
        assert link_row is not None
        assert (link_row.channel, link_row.status, link_row.message_id, link_row.invite_id) == (
            "sms",
            "recorded",
            message.id,
            invite.id,
        )
        link_id = link_row.id
    assert (audits(app, "consent.session_link_sent")[0].details or {})["status"] == "recorded"
    assert domain_events[-1][0] == "consent.session_link_sent"
    status_page = clinician.get(f"/consent/links/{link_id}")
    assert status_page.status_code == 200 and found.group(0) not in status_page.text

    # A number on file is used as it is: the screen cannot overwrite it.
    clinician.post(
        "/consent/link", data={"ticket": ticket, "channel": "sms", "phone": "555 555 0000"}
    )
    assert client_row(app, "Emery").phone == "+15555550199"
    assert messages(app)[-1].recipient == "+15555550199"


def test_missing_email_is_added_and_the_link_is_delivered_over_smtp(
    mail_app: Flask, smtp_server: SmtpSink
) -> None:
    app = mail_app
    clinician = signed_in(app)
    pk, start = start_session(app, clinician, first_name="Devon")
    link = verbal(clinician, start)
    assert "no email address on file" in clinician.get(link).text
    ticket = ticket_of(start)
    for bad in ("devon", "devon@", "devon@@example.org", "devon @example.org"):
        refused = clinician.post(
            "/consent/link", data={"ticket": ticket, "channel": "email", "email": bad}
        )
        assert refused.status_code == 400, bad
        assert "That email address cannot be used" in refused.text, bad
    assert client_row(app, "Devon").email is None and smtp_server.messages() == []

    sent = clinician.post(
        "/consent/link",
        data={"ticket": ticket, "channel": "email", "email": " devon.patel@Example.ORG "},
    )
    assert sent.status_code == 200, sent.text
    assert client_row(app, "Devon").email == "devon.patel@example.org"
    (email,) = smtp_server.messages()
    assert email["To"] == "devon.patel@example.org"
    assert email["From"] == SENDER
    assert email["Subject"] == "Your telehealth session with Demo Behavioral Health"
    body = email.get_content()
    assert body.startswith("Hello Devon,")
    found = JOIN.search(body)
    assert found, body
    (message,) = messages(app)
    assert (message.channel, message.status) == ("email", "sent")
    assert 'data-status="sent"' in sent.text
    with app.app_context():
        invite = resolve_invite(found.group(1))
        assert invite is not None and invite.kind == "appointment"
        assert invite.reference.startswith(f"calendar:{pk}@")


def test_a_failed_email_is_shown_to_the_clinician(make_app: Callable[..., Flask]) -> None:
    app = make_app(
        WTF_CSRF_ENABLED=False,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=free_port(),  # nobody listens
        MAIL_SUPPRESS_SEND=False,
        MAIL_TIMEOUT=2,
    )
    clinician = signed_in(app)
    _pk, start = start_session(app, clinician, first_name="Brooke")
    verbal(clinician, start)
    failed = clinician.post("/consent/link", data={"ticket": ticket_of(start), "channel": "email"})
    assert failed.status_code == 200  # the page works; it says the message did not
    assert "The email could not be sent: the mail server did not answer." in failed.text
    assert "Error" not in failed.text.split('id="consent-link-result"')[1].split("</div>")[0]
    assert "could not be sent" in failed.text and 'data-status="failed"' in failed.text
    assert 'id="consent-send-again"' in failed.text
    (message,) = messages(app)
    assert message.status == "failed" and message.error
    with app.app_context():
        assert db.session.scalar(sa.select(SessionLink.status)) == "failed"


# --- message templates ------------------------------------------------------------------------


def test_practice_admin_edits_templates_and_bad_placeholders_are_refused(app: Flask) -> None:
    admin = signed_in(app, "practiceadmin")
    listing = admin.get("/consent/templates/list/")
    assert listing.status_code == 200 and "Telehealth session link" in listing.text
    with app.app_context():
        row = db.session.scalar(
            sa.select(MessageTemplate).where(
                MessageTemplate.purpose == "session_link", MessageTemplate.channel == "sms"
            )
        )
        assert row is not None
        pk, original = row.id, row.body
    edit = f"/consent/templates/edit/{pk}"
    assert admin.get(edit).status_code == 200
    for body, words in [
        ("Hi {first_name}: {link}", "Unknown placeholder {first_name}"),
        ("Join {link} at {appointment_time:%H}", "without a format"),
        ("Join us at {appointment_time}", "The message must contain {link}."),
        ("Join {link", "The braces do not match"),
        ("Join {} {link}", "Name every placeholder"),
        ("{link} " + "x" * 600, "An SMS holds at most 480 characters"),
    ]:
        refused = admin.post(edit, data={"subject": "", "body": body})
        assert refused.status_code == 200, body
        assert words in refused.text.replace("&#39;", "'").replace("&#34;", '"'), body
        with app.app_context():
            assert db.session.get(MessageTemplate, pk).body == original
    bad_subject = admin.post(edit, data={"subject": "{nope}", "body": "{link}"})
    assert "Unknown placeholder {nope}" in bad_subject.text

    new_text = "{practice_name}: hi {client_first_name}, join {clinician_name} here {link}"
    saved = admin.post(edit, data={"subject": "", "body": new_text})
    assert saved.status_code == 302
    with app.app_context():
        row = db.session.get(MessageTemplate, pk)
        assert row.body == new_text and row.updated_by == "practiceadmin"
    assert audits(app, "consent.template_updated")
    assert signed_in(app).get(edit).status_code == 403  # clinicians do not edit templates

    clinician = signed_in(app)
    _pk, start = start_session(app, clinician, first_name="Alex")
    verbal(clinician, start)
    clinician.post("/consent/link", data={"ticket": ticket_of(start), "channel": "sms"})
    body = messages(app)[-1].body
    assert body.startswith("Demo Behavioral Health: hi Alex, join Casey Morgan here http://")
    assert JOIN.search(body)


def test_request_status_snapshot_is_only_for_the_clinician_who_sent_it(app: Flask) -> None:
    clinician = signed_in(app)
    _pk, start = start_session(app, clinician, first_name="Alex")
    send_form(clinician, start, channel="sms")
    with app.app_context():
        request_id = db.session.scalar(sa.select(ConsentRequest.id))
    mine = staff_socket(app, clinician)
    ack = mine.emit(
        "consent.request_status", {"request_id": request_id}, namespace="/staff", callback=True
    )
    assert ack["ok"] and ack["data"]["state"] == "pending"
    with app.app_context():
        invite = db.session.scalar(sa.select(PatientInvite).where(PatientInvite.kind == "portal"))
        invite.expires_at = dt.datetime(2000, 1, 1)
        db.session.commit()
    ack = mine.emit(
        "consent.request_status", {"request_id": request_id}, namespace="/staff", callback=True
    )
    assert ack["data"]["state"] == "expired"
    theirs = staff_socket(app, signed_in(app, "clinician2"))
    refused = theirs.emit(
        "consent.request_status", {"request_id": request_id}, namespace="/staff", callback=True
    )
    assert refused == {
        "ok": False,
        "error": {"code": "not_found", "message": "you sent no consent request with that id"},
    }
    bad = mine.emit(
        "consent.request_status", {"request_id": "x"}, namespace="/staff", callback=True
    )
    assert bad["error"]["code"] == "invalid"


# --- one commit per request -----------------------------------------------------------------


def spy_on_announcements(monkeypatch: pytest.MonkeyPatch, commits: Commits) -> None:
    """Note how many commits had gone when consent told the clinician and other plugins."""
    monkeypatch.setattr(consent_events, "notify", commits.spy("notify"))
    monkeypatch.setattr(consent_events, "emit_domain_event", commits.spy("event"))


def test_verbal_consent_replacing_a_portal_form_is_one_commit_announced_after_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinician = signed_in(app)
    _pk, start = start_session(app, clinician, first_name="Alex")
    assert send_form(clinician, start, channel="sms").status_code == 303
    with count_commits(engine_of(app)) as commits:
        spy_on_announcements(monkeypatch, commits)
        verbal(clinician, start)
    # The record, its audit row and the revoked portal link with its own: one commit.
    assert commits.count == 1 and commits.calls == [("event", 1)]
    (record,) = records(app, "Alex")
    (entry,) = audits(app, "consent.verbal_recorded")
    assert entry.target == f"consent:{record.id}"
    with app.app_context():
        invite = db.session.scalar(sa.select(PatientInvite).where(PatientInvite.kind == "portal"))
        assert invite is not None and invite.revoked_at is not None
    assert [e.target for e in audits(app, "invite.revoked")] == [f"invite:{invite.id}"]


def test_a_portal_answer_is_one_commit_announced_after_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinician = signed_in(app)
    _pk, start = start_session(app, clinician, first_name="Alex")
    assert send_form(clinician, start, channel="sms").status_code == 303
    token, patient = portal_token(app), app.test_client()
    with count_commits(engine_of(app)) as opening:
        assert patient.get(f"/portal/consent/{token}").status_code == 200
    assert opening.count == 1 and len(audits(app, "consent.portal_opened")) == 1

    with count_commits(engine_of(app)) as answering:
        spy_on_announcements(monkeypatch, answering)
        done = patient.post(f"/portal/consent/{token}", data={"decision": "decline"})
    assert done.status_code == 200, done.text
    assert answering.count == 1
    assert answering.calls == [("notify", 1), ("event", 1)]
    (record,) = records(app, "Alex")
    assert [e.target for e in audits(app, "consent.declined")] == [f"consent:{record.id}"]
    assert len(audits(app, "invite.revoked")) == 1


def test_reading_consent_records_commits_the_audit_row_of_each_read(app: Flask) -> None:
    clinician = signed_in(app)
    _pk, start = start_session(app, clinician)
    verbal(clinician, start)
    (record,) = records(app, "Devon")
    reads = {
        "consent.records_listed": "/consent/records/",
        "consent.record_viewed": f"/consent/records/{record.id}",
        "consent.record_printed": f"/consent/records/{record.id}/print",
    }
    for action, url in reads.items():
        with count_commits(engine_of(app)) as commits:
            assert clinician.get(url).status_code == 200, url
        assert commits.count == 1, url
        assert len(audits(app, action)) == 1, action


def test_admin_changes_commit_with_their_audit_rows(app: Flask) -> None:
    admin = signed_in(app, "practiceadmin")
    with count_commits(engine_of(app)) as adding:
        added = admin.post("/consent/forms/add", data={"title": "Consent 2031", "body": "Terms."})
    assert added.status_code == 302
    assert adding.count == 1
    (entry,) = audits(app, "consent.form_version_added")
    assert entry.target == "consent_form:2"

    with app.app_context():
        pk = db.session.scalar(sa.select(sa.func.min(MessageTemplate.id)))
    with count_commits(engine_of(app)) as editing:
        saved = admin.post(
            f"/consent/templates/edit/{pk}", data={"subject": "", "body": "Join: {link}"}
        )
    assert saved.status_code == 302
    assert editing.count == 1
    assert [e.target for e in audits(app, "consent.template_updated")] == [f"consent_template:{pk}"]
