"""Email through Flask-Mail over SMTP and SMS through a pluggable backend.

Every message is stored with its delivery status before and after the attempt, so a
failure is never silent and never loses the message.
"""

from __future__ import annotations

import re
import smtplib
from typing import Protocol

import requests
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_mail import Connection, Mail
from flask_mail import Message as MailMessage

from core.database import db
from core.models import OutboundMessage, utcnow


class _TimeoutConnection(Connection):
    """Flask-Mail's connection with ``MAIL_TIMEOUT`` applied (Flask-Mail 0.10 has none)."""

    def configure_host(self) -> smtplib.SMTP:
        factory = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = factory(
            self.mail.server, self.mail.port, timeout=float(current_app.config["MAIL_TIMEOUT"])
        )
        host.set_debuglevel(int(self.mail.debug))
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


MAIL_KEYS = (
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
)


class _Mail(Mail):
    def connect(self) -> Connection:
        """A connection with the practice's current mail settings (Settings may have
        changed them since the app started)."""
        app = current_app
        booted = app.extensions["mail"]
        state = self.init_mail({**app.config, **_current(MAIL_KEYS)}, app.debug, app.testing)
        state.suppress = booted.suppress
        return _TimeoutConnection(state)  # type: ignore[arg-type]  # as Flask-Mail does


def _current(keys: tuple[str, ...]) -> dict[str, object]:
    from core.practice_settings import value

    return {key: value(key) for key in keys}


mail = _Mail()

_PHONE_DIGITS = re.compile(r"\d")


class InvalidRecipient(ValueError):
    """An email address or phone number that cannot be used."""


def normalise_email(address: str) -> str:
    try:
        return str(validate_email(address.strip(), check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise InvalidRecipient(str(exc)) from exc


def normalise_phone(number: str) -> str:
    """Return E.164 (``+15551234567``); ten-digit numbers are taken as North American."""
    raw = number.strip()
    if not re.fullmatch(r"\+?[\d\s().-]{7,25}", raw):
        raise InvalidRecipient(f"{number!r} is not a phone number")
    digits = "".join(_PHONE_DIGITS.findall(raw))
    if raw.startswith("+"):
        if not 8 <= len(digits) <= 15:
            raise InvalidRecipient(f"{number!r} is not a valid international number")
        return "+" + digits
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    raise InvalidRecipient(f"{number!r}: give 10 digits or an international number with +")


class SmsBackend(Protocol):
    def send(self, message: OutboundMessage) -> str | None:
        """Deliver the message; return the provider's id. Raise on failure."""


class OutboxSmsBackend:
    """Records the message and delivers nothing: for practices without an SMS provider."""

    def send(self, message: OutboundMessage) -> str | None:
        return None


class HttpSmsBackend:
    """A Twilio-style HTTP API: POST ``From``/``To``/``Body`` with basic auth."""

    def __init__(self, url: str, account: str, token: str, sender: str) -> None:
        self.url, self.account, self.token, self.sender = url, account, token, sender

    def send(self, message: OutboundMessage) -> str | None:
        response = requests.post(
            self.url,
            data={"From": self.sender, "To": message.recipient, "Body": message.body},
            auth=(self.account, self.token),
            timeout=10,
        )
        if response.status_code >= 300:
            raise RuntimeError(
                f"SMS provider answered {response.status_code}: {response.text[:200]}"
            )
        try:
            body = response.json()
        except ValueError:
            return None
        return str(body.get("sid") or "") or None if isinstance(body, dict) else None


def sms_backend() -> SmsBackend:
    config = _current(
        ("SMS_BACKEND", "SMS_HTTP_URL", "SMS_HTTP_ACCOUNT", "SMS_HTTP_TOKEN", "SMS_FROM")
    )
    if config["SMS_BACKEND"] not in {"outbox", "http"}:
        raise ValueError(f"SMS_BACKEND must be 'outbox' or 'http', not {config['SMS_BACKEND']!r}")
    if config["SMS_BACKEND"] == "http":
        return HttpSmsBackend(
            str(config["SMS_HTTP_URL"]),
            str(config["SMS_HTTP_ACCOUNT"]),
            str(config["SMS_HTTP_TOKEN"]),
            str(config["SMS_FROM"]),
        )
    return OutboxSmsBackend()


def _store(
    channel: str, recipient: str, subject: str | None, body: str, source: str
) -> OutboundMessage:
    message = OutboundMessage(
        channel=channel,
        recipient=recipient,
        subject=subject,
        body=body,
        source=source,
        status="queued",
    )
    db.session.add(message)
    db.session.commit()
    return message


def _finish(message: OutboundMessage, status: str, error: str | None = None) -> OutboundMessage:
    message.status = status
    message.error = error
    if status in {"sent", "recorded"}:
        message.sent_at = utcnow()
    db.session.commit()
    return message


def send_email(
    to: str, subject: str, body: str, *, html: str | None = None, source: str = "core"
) -> OutboundMessage:
    """Send an email now; the stored message says ``sent`` or ``failed`` with the error."""
    message = _store("email", normalise_email(to), subject, body, source)
    try:
        sender = str(_current(("MAIL_DEFAULT_SENDER",))["MAIL_DEFAULT_SENDER"])
        mail.send(
            MailMessage(
                subject=subject,
                recipients=[message.recipient],
                body=body,
                html=html,
                sender=sender,
            )
        )
    except Exception as exc:
        return _finish(message, "failed", f"{type(exc).__name__}: {exc}")
    return _finish(message, "sent")


def send_sms(to: str, body: str, *, source: str = "core") -> OutboundMessage:
    """Send an SMS through the configured backend (the outbox only records it)."""
    backend = sms_backend()
    message = _store("sms", normalise_phone(to), None, body, source)
    try:
        message.provider_id = backend.send(message)
    except Exception as exc:
        return _finish(message, "failed", f"{type(exc).__name__}: {exc}")
    return _finish(message, "recorded" if isinstance(backend, OutboxSmsBackend) else "sent")


# --- failures in words -------------------------------------------------------------------

_NO_ANSWER = (
    "ConnectionRefusedError",
    "Errno 111",
    "TimeoutError",
    "timed out",
    "gaierror",
    "Name or service not known",
    "SMTPServerDisconnected",
    "SMTPConnectError",
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "OSError",
)


def failure_sentence(channel: str, error: str | None) -> str:
    """A stored delivery error said as a plain sentence for staff, e.g. "The email could
    not be sent: the mail server did not answer." The technical error stays stored."""
    text = error or ""
    if channel == "email":
        return "The email could not be sent: " + _email_reason(text) + "."
    return "The text message could not be sent: " + _sms_reason(text) + "."


def _email_reason(text: str) -> str:
    if "SMTPAuthenticationError" in text:
        return "the mail server refused the practice's user name or password"
    if "SMTPRecipientsRefused" in text:
        return "the mail server refused this address"
    if "SMTPSenderRefused" in text:
        return "the mail server refused the practice's sender address"
    if any(marker in text for marker in _NO_ANSWER):
        return "the mail server did not answer"
    return "the mail server refused the message"


def _sms_reason(text: str) -> str:
    answered = re.search(r"answered (\d{3})", text)
    if answered:
        code = int(answered.group(1))
        if code in {401, 403}:
            return "the SMS provider refused the practice's account details"
        if code >= 500:
            return "the SMS provider is not working right now"
        return "the SMS provider refused the message"
    if "MissingSchema" in text or "InvalidURL" in text or "InvalidSchema" in text:
        return "the SMS provider is not set up (see Settings)"
    if any(marker in text for marker in _NO_ANSWER):
        return "the SMS provider did not answer"
    return "the SMS provider refused the message"
