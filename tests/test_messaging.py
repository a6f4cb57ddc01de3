"""Email and SMS delivery against real servers started by the tests.

Email goes through Flask-Mail over SMTP to an aiosmtpd server on a free local port; SMS
goes through the HTTP backend to a Twilio-style provider served by ``http.server`` in a
thread. Every message must be on record with what became of it.

The test apps run with ``TESTING=True``, under which Flask-Mail suppresses sending
unless ``MAIL_SUPPRESS_SEND`` is ``False``, so the email apps set it explicitly.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask

from core import api, messaging
from core.database import db
from core.messaging import InvalidRecipient
from core.models import OutboundMessage, utcnow
from tests.conftest import free_port

SENDER_ADDRESS = "practice@clinic.example.org"
SENDER = f"Demo Practice <{SENDER_ADDRESS}>"
PATIENT_EMAIL = "patient@example.org"
SUBJECT = "Your appointment \u2013 Tuesday 10:00"
BODY = "Hello,\n\nYour session with Dr. M\u00fcller is confirmed.\n\nThe practice\n"

SMS_ACCOUNT = "AC0123456789"
SMS_TOKEN = "token-not-for-production"
SMS_SENDER = "+15550001111"
SMS_PATH = f"/2010-04-01/Accounts/{SMS_ACCOUNT}/Messages.json"


# --- helpers -------------------------------------------------------------------------


def message_count() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) or 0)


def reload(message_id: int) -> OutboundMessage:
    """The row as the database has it, not the session's copy."""
    db.session.remove()
    stored = db.session.get(OutboundMessage, message_id)
    assert stored is not None, f"message {message_id} was not kept"
    return stored


def assert_sent_between(message: OutboundMessage, before: dt.datetime, after: dt.datetime) -> None:
    assert message.sent_at is not None
    assert before <= message.sent_at <= after
    assert message.created_at <= message.sent_at


def parse_email(envelope: Envelope) -> EmailMessage:
    assert isinstance(envelope.content, bytes)
    return cast(EmailMessage, message_from_bytes(envelope.content, policy=default_policy))


# --- a real SMTP server ---------------------------------------------------------------


class CollectingHandler:
    """An aiosmtpd handler that keeps every envelope it accepts."""

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

    @property
    def envelopes(self) -> list[Envelope]:
        return self.handler.envelopes


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpSink(host="127.0.0.1", port=int(controller.port), handler=handler)
    finally:
        controller.stop()


@pytest.fixture
def mail_app(make_app: Callable[..., Flask], smtp_server: SmtpSink) -> Flask:
    return make_app(
        MAIL_SERVER=smtp_server.host,
        MAIL_PORT=smtp_server.port,
        MAIL_DEFAULT_SENDER=SENDER,
        MAIL_SUPPRESS_SEND=False,
    )


@dataclass
class SilentServer:
    """Accepts TCP connections (the kernel does, from the backlog) and never says a word."""

    listener: socket.socket
    port: int

    def close(self) -> None:
        # Closing the listener resets the connections waiting in its backlog, which
        # unblocks a client stuck waiting for the SMTP greeting.
        self.listener.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    server = SilentServer(listener=listener, port=int(listener.getsockname()[1]))
    try:
        yield server
    finally:
        server.close()


# --- a real Twilio-style SMS provider -------------------------------------------------


class ProviderServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ProviderHandler)
        self.received: list[dict[str, str]] = []
        self.rejected: list[str] = []
        self.answer_status = 201
        self.on_request: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{SMS_PATH}"


class ProviderHandler(BaseHTTPRequestHandler):
    server: ProviderServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8")
        expected_auth = "Basic " + base64.b64encode(f"{SMS_ACCOUNT}:{SMS_TOKEN}".encode()).decode()
        if self.path != SMS_PATH:
            self._reject(404, f"no such resource {self.path}")
            return
        if self.headers.get("Authorization") != expected_auth:
            self._reject(401, "authentication failed")
            return
        if self.headers.get_content_type() != "application/x-www-form-urlencoded":
            self._reject(415, f"form data expected, got {self.headers.get_content_type()}")
            return
        fields = parse_qs(raw, keep_blank_values=True)
        if set(fields) != {"From", "To", "Body"} or any(len(v) != 1 for v in fields.values()):
            self._reject(400, f"From, To and Body expected once each, got {sorted(fields)}")
            return
        if self.server.on_request is not None:
            self.server.on_request()
        self.server.received.append({name: values[0] for name, values in fields.items()})
        if self.server.answer_status == 201:
            self._answer(201, {"sid": "SM123", "status": "queued"})
        else:
            self._answer(self.server.answer_status, {"code": 20500, "message": "provider down"})

    def _reject(self, status: int, reason: str) -> None:
        self.server.rejected.append(reason)
        self._answer(status, {"message": reason})

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sms_provider() -> Iterator[ProviderServer]:
    server = ProviderServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def http_sms_config(provider: ProviderServer, **overrides: Any) -> dict[str, Any]:
    return {
        "SMS_BACKEND": "http",
        "SMS_HTTP_URL": provider.url,
        "SMS_HTTP_ACCOUNT": SMS_ACCOUNT,
        "SMS_HTTP_TOKEN": SMS_TOKEN,
        "SMS_FROM": SMS_SENDER,
        **overrides,
    }


@pytest.fixture
def sms_app(make_app: Callable[..., Flask], sms_provider: ProviderServer) -> Flask:
    return make_app(**http_sms_config(sms_provider))


# --- recipients (no database needed) --------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(555) 123-4567", "+15551234567"),
        ("+44 20 7946 0958", "+442079460958"),
        ("555.123.4567", "+15551234567"),
        ("1 555 123 4567", "+15551234567"),
        ("  +1 (555) 123-4567 ", "+15551234567"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw: str, expected: str) -> None:
    assert messaging.normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw", ["12", "abc", "", "555-CALL-NOW", "+1234567", "(((((((", "44 20 7946 0958"]
)
def test_invalid_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidRecipient) as info:
        messaging.normalise_phone(raw)
    assert str(info.value).strip()


def test_email_addresses_are_normalised() -> None:
    assert messaging.normalise_email("  Patient@Example.ORG ") == "Patient@example.org"


@pytest.mark.parametrize("raw", ["not-an-email", "a@b", "patient@", "two@@example.org", ""])
def test_invalid_email_addresses_are_refused(raw: str) -> None:
    with pytest.raises(InvalidRecipient) as info:
        messaging.normalise_email(raw)
    assert str(info.value).strip()


def test_invalid_recipients_raise_and_store_nothing(mail_app: Flask, smtp_server: SmtpSink) -> None:
    with mail_app.app_context():
        before = message_count()
        with pytest.raises(InvalidRecipient, match="@-sign"):
            messaging.send_email("not-an-email", SUBJECT, BODY, source="test")
        for number in ["12", "abc"]:
            with pytest.raises(InvalidRecipient, match=repr(number)):
                messaging.send_sms(number, "Reminder", source="test")
        db.session.remove()
        assert message_count() == before
    assert smtp_server.envelopes == []


# --- email ------------------------------------------------------------------------------


def test_email_is_delivered_over_smtp_and_recorded_as_sent(
    mail_app: Flask, smtp_server: SmtpSink
) -> None:
    with mail_app.app_context():
        before = utcnow()
        message = messaging.send_email(PATIENT_EMAIL, SUBJECT, BODY, source="test")
        after = utcnow()
        assert message.status == "sent", message.error
        assert message.error is None
        stored = reload(message.id)
        assert (stored.channel, stored.recipient, stored.subject, stored.body, stored.source) == (
            "email",
            PATIENT_EMAIL,
            SUBJECT,
            BODY,
            "test",
        )
        assert stored.status == "sent"
        assert_sent_between(stored, before, after)

    assert len(smtp_server.envelopes) == 1
    envelope = smtp_server.envelopes[0]
    assert envelope.mail_from == SENDER_ADDRESS
    assert envelope.rcpt_tos == [PATIENT_EMAIL]
    email = parse_email(envelope)
    assert email["To"] == PATIENT_EMAIL
    assert email["From"] == SENDER
    assert email["Subject"] == SUBJECT
    part = email.get_body(("plain",))
    assert part is not None
    assert part.get_content().replace("\r\n", "\n") == BODY


def test_email_to_an_unreachable_server_is_kept_as_failed(make_app: Callable[..., Flask]) -> None:
    app = make_app(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=free_port(),  # nothing listens there
        MAIL_DEFAULT_SENDER=SENDER,
        MAIL_SUPPRESS_SEND=False,
    )
    with app.app_context():
        count = message_count()
        message = messaging.send_email(PATIENT_EMAIL, SUBJECT, BODY, source="test")
        assert message.status == "failed"
        stored = reload(message.id)
        assert message_count() == count + 1
        assert stored.status == "failed"
        assert stored.sent_at is None
        assert stored.error is not None
        assert stored.error.startswith("ConnectionRefusedError: ")
        assert "refused" in stored.error.lower()
        assert (stored.recipient, stored.subject, stored.body) == (PATIENT_EMAIL, SUBJECT, BODY)


def test_email_to_a_silent_server_fails_within_mail_timeout(
    make_app: Callable[..., Flask], silent_server: SilentServer
) -> None:
    app = make_app(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=silent_server.port,
        MAIL_DEFAULT_SENDER=SENDER,
        MAIL_SUPPRESS_SEND=False,
        MAIL_TIMEOUT=1,
    )
    outcome: list[tuple[str, str | None] | BaseException] = []

    def attempt() -> None:
        with app.app_context():
            try:
                message = messaging.send_email(PATIENT_EMAIL, SUBJECT, BODY, source="test")
                outcome.append((message.status, message.error))
            except BaseException as exc:  # reported below, in the test's thread
                outcome.append(exc)
            finally:
                db.session.remove()

    worker = threading.Thread(target=attempt)
    worker.start()
    worker.join(6)  # MAIL_TIMEOUT is 1 second
    hung = worker.is_alive()
    silent_server.close()  # unblock the worker whatever happened
    worker.join(10)
    assert not worker.is_alive()
    assert not hung, "send_email still waiting after 6 s with MAIL_TIMEOUT=1"
    assert len(outcome) == 1 and isinstance(outcome[0], tuple), outcome
    status, error = outcome[0]
    assert status == "failed"
    assert error is not None and "timed out" in error


def test_plugin_api_send_email(mail_app: Flask, smtp_server: SmtpSink) -> None:
    html = "<p>Your session is <b>confirmed</b>.</p>"
    with mail_app.app_context():
        message = api.send_email(PATIENT_EMAIL, SUBJECT, BODY, source="plugin:reminders", html=html)
        assert message.status == "sent", message.error
        stored = reload(message.id)
        assert (stored.status, stored.source, stored.recipient) == (
            "sent",
            "plugin:reminders",
            PATIENT_EMAIL,
        )
        assert stored.sent_at is not None

    assert [envelope.rcpt_tos for envelope in smtp_server.envelopes] == [[PATIENT_EMAIL]]
    email = parse_email(smtp_server.envelopes[0])
    assert email["Subject"] == SUBJECT
    plain = email.get_body(("plain",))
    rich = email.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content().replace("\r\n", "\n") == BODY
    assert html in rich.get_content()


# --- SMS ----------------------------------------------------------------------------------


def test_sms_outbox_records_and_sends_nothing(
    make_app: Callable[..., Flask], sms_provider: ProviderServer
) -> None:
    # The provider is configured but the backend is the default outbox: it must stay idle.
    config = http_sms_config(sms_provider)
    del config["SMS_BACKEND"]
    app = make_app(**config)
    assert app.config["SMS_BACKEND"] == "outbox"
    with app.app_context():
        before = utcnow()
        message = messaging.send_sms("(555) 123-4567", "See you Tuesday", source="test")
        after = utcnow()
        stored = reload(message.id)
        assert (stored.channel, stored.recipient, stored.body, stored.source) == (
            "sms",
            "+15551234567",
            "See you Tuesday",
            "test",
        )
        assert stored.status == "recorded"
        assert stored.provider_id is None
        assert stored.error is None
        assert_sent_between(stored, before, after)
    assert sms_provider.received == []
    assert sms_provider.rejected == []


def test_sms_over_http_is_sent_with_the_provider_id(
    sms_app: Flask, sms_provider: ProviderServer
) -> None:
    # While the provider handles the request, the message must already be on record:
    # look from a connection of our own, outside the app's session.
    seen: list[list[tuple[str, str]] | BaseException] = []
    engine = sa.create_engine(sms_app.config["SQLALCHEMY_DATABASE_URI"])

    def look_at_the_record() -> None:
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    sa.select(OutboundMessage.recipient, OutboundMessage.status)
                ).all()
            seen.append([(str(r[0]), str(r[1])) for r in rows])
        except BaseException as exc:
            seen.append(exc)

    sms_provider.on_request = look_at_the_record
    body = "Reminder: session tomorrow at 10:00. Reply STOP to opt out."
    try:
        with sms_app.app_context():
            before = utcnow()
            message = messaging.send_sms("(555) 123-4567", body, source="test")
            after = utcnow()
            assert message.status == "sent", message.error
            stored = reload(message.id)
            assert (stored.channel, stored.recipient, stored.body) == ("sms", "+15551234567", body)
            assert stored.status == "sent"
            assert stored.provider_id == "SM123"
            assert stored.error is None
            assert_sent_between(stored, before, after)
    finally:
        engine.dispose()

    assert sms_provider.rejected == []
    assert sms_provider.received == [{"From": SMS_SENDER, "To": "+15551234567", "Body": body}]
    assert seen == [[("+15551234567", "queued")]]


def test_sms_provider_error_is_kept_as_failed(sms_app: Flask, sms_provider: ProviderServer) -> None:
    sms_provider.answer_status = 500
    with sms_app.app_context():
        message = messaging.send_sms("+44 20 7946 0958", "Reminder", source="test")
        assert message.status == "failed"
        stored = reload(message.id)
        assert stored.status == "failed"
        assert stored.recipient == "+442079460958"
        assert stored.provider_id is None
        assert stored.sent_at is None
        assert stored.error is not None
        assert "500" in stored.error
        assert stored.error.startswith("RuntimeError: SMS provider answered 500")
        assert "provider down" in stored.error
    assert sms_provider.received == [
        {"From": SMS_SENDER, "To": "+442079460958", "Body": "Reminder"}
    ]


def test_sms_with_wrong_credentials_is_kept_as_failed(
    make_app: Callable[..., Flask], sms_provider: ProviderServer
) -> None:
    app = make_app(**http_sms_config(sms_provider, SMS_HTTP_TOKEN="wrong-token"))
    with app.app_context():
        message = messaging.send_sms("(555) 123-4567", "Reminder", source="test")
        stored = reload(message.id)
        assert stored.status == "failed"
        assert stored.error is not None and "401" in stored.error
    assert sms_provider.received == []
    assert sms_provider.rejected == ["authentication failed"]


def test_plugin_api_send_sms(sms_app: Flask, sms_provider: ProviderServer) -> None:
    with sms_app.app_context():
        message = api.send_sms("+44 20 7946 0958", "Your results are ready", source="plugin:labs")
        assert message.status == "sent", message.error
        stored = reload(message.id)
        assert (stored.status, stored.provider_id, stored.source, stored.recipient) == (
            "sent",
            "SM123",
            "plugin:labs",
            "+442079460958",
        )
        with pytest.raises(api.InvalidRecipient):
            api.send_sms("abc", "never sent", source="plugin:labs")
    assert sms_provider.received == [
        {"From": SMS_SENDER, "To": "+442079460958", "Body": "Your results are ready"}
    ]
