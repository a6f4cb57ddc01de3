"""The consent rules: start tickets, forms, validity, contacts, message templates."""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass
from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from werkzeug.routing import BuildError

from core.api import (
    Client,
    InvalidRecipient,
    audit,
    db_session,
    normalise_email,
    normalise_phone,
    send_email,
    send_sms,
    setting,
)
from plugins.consent.models import (
    ConsentFormVersion,
    ConsentRecord,
    MessageTemplate,
    text_hash,
    utcnow,
)

SOURCE = "consent"
#: Shared with the calendar plugin, which signs the tickets (see its package docstring).
TICKET_SALT = "calendar.start"

DEFAULT_FORM_TITLE = "Informed consent for telehealth services"
DEFAULT_FORM_BODY = """\
Telehealth means that your sessions with your clinician take place by secure video or \
telephone instead of in person.

Benefits and risks. Telehealth saves travel and lets you be seen from home. The \
technology can fail: a session may be interrupted or of poor quality, and in rare cases \
information could be intercepted despite the encryption we use. If a session fails, your \
clinician will call you at the number on file.

Privacy. Sessions are not recorded. Please take part from a private place where you \
cannot be overheard. The same confidentiality rules apply as in the office.

Emergencies. Telehealth is not suitable for emergencies. In a crisis call 911 or 988 \
(Suicide & Crisis Lifeline) or go to the nearest emergency room. Tell your clinician \
where you are at the start of each session.

Your rights. You may decline telehealth and ask for in-person care at any time; declining \
does not affect your other care. This consent is valid for the period stated by the \
practice unless you withdraw it.

By accepting, you confirm that you have read this form, had the chance to ask questions, \
and agree to receive care by telehealth."""

PLACEHOLDERS = {
    "client_first_name": "the client's first name",
    "client_last_name": "the client's last name",
    "practice_name": "the practice's name",
    "clinician_name": "the clinician's name",
    "appointment_time": "the appointment's date and time",
    "link": "the link to open (required)",
}
DEFAULT_TEMPLATES: dict[tuple[str, str], tuple[str | None, str]] = {
    ("consent_request", "sms"): (
        None,
        "{practice_name}: please read and sign your telehealth consent form before your "
        "session: {link}",
    ),
    ("consent_request", "email"): (
        "Your telehealth consent form from {practice_name}",
        "Hello {client_first_name},\n\nBefore your telehealth session with "
        "{clinician_name}, please read the consent form and accept or decline it:\n\n"
        "{link}\n\nThe link works for a limited time and only for you.\n\n{practice_name}\n",
    ),
    ("session_link", "sms"): (
        None,
        "{practice_name}: your telehealth session with {clinician_name} ({appointment_time}). "
        "Join here: {link}",
    ),
    ("session_link", "email"): (
        "Your telehealth session with {practice_name}",
        "Hello {client_first_name},\n\nYour telehealth session with {clinician_name} is "
        "on {appointment_time}.\n\nJoin it from this link (it works only for you and "
        "expires):\n\n{link}\n\nUse a private, quiet place and a device with a camera "
        "and microphone.\n\n{practice_name}\n",
    ),
}
SMS_MAX_CHARACTERS = 480


class ConsentFlowError(ValueError):
    """A request the consent flow cannot honour, with a message for the user."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# --- the calendar's start ticket -------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    token: str
    appointment_id: int
    reference: str
    client_id: int
    provider_id: int
    issued_to: int
    appointment_time: str
    starts_at: str

    @property
    def client(self) -> Client:
        client = db_session().get(Client, self.client_id)
        if client is None:
            raise ConsentFlowError("The appointment's client no longer exists.")
        return client


def read_ticket(token: str | None) -> Ticket:
    """Verify the start ticket the calendar signed; the signed-in user must hold it."""
    if not token:
        raise ConsentFlowError(
            "Open this screen with Start Telehealth Session on an appointment in the Calendar."
        )
    serializer = URLSafeTimedSerializer(current_app.secret_key or "", salt=TICKET_SALT)
    try:
        claims = serializer.loads(token, max_age=int(current_app.config["CONSENT_TICKET_MAX_AGE"]))
    except SignatureExpired:
        raise ConsentFlowError(
            "This start link has expired: start the session again from the Calendar."
        ) from None
    except BadSignature:
        raise ConsentFlowError(
            "This start link is not valid: start the session from an appointment in the Calendar."
        ) from None
    try:
        ticket = Ticket(
            token=token,
            appointment_id=int(claims["appointment_id"]),
            reference=str(claims["reference"]),
            client_id=int(claims["client_id"]),
            provider_id=int(claims["provider_id"]),
            issued_to=int(claims["issued_to"]),
            appointment_time=str(claims.get("appointment_time") or ""),
            starts_at=str(claims.get("starts_at") or ""),
        )
    except (KeyError, TypeError, ValueError):
        raise ConsentFlowError(
            "This start link is incomplete: start again from the Calendar."
        ) from None
    if ticket.issued_to != current_user.id:
        raise ConsentFlowError(
            "This session was started by another user: start it yourself from the Calendar."
        )
    return ticket


# --- forms and validity ----------------------------------------------------------------------


def current_form() -> ConsentFormVersion:
    """The newest version of the consent form (version 1 is made when there is none, and
    kept by the caller's commit)."""
    session = db_session()
    form = session.scalar(
        select(ConsentFormVersion).order_by(ConsentFormVersion.version.desc()).limit(1)
    )
    if form is None:
        form = ConsentFormVersion(
            version=1,
            title=DEFAULT_FORM_TITLE,
            body=DEFAULT_FORM_BODY,
            body_hash=text_hash(DEFAULT_FORM_BODY),
            created_by="system",
        )
        session.add(form)
        session.flush()
    return form


def form_version(version: int) -> ConsentFormVersion | None:
    return db_session().scalar(
        select(ConsentFormVersion).where(ConsentFormVersion.version == version)
    )


def next_form_version() -> int:
    highest = db_session().scalar(select(func.max(ConsentFormVersion.version)))
    return int(highest or 0) + 1


def validity() -> dt.timedelta:
    return dt.timedelta(days=int(setting("CONSENT_VALIDITY_DAYS")))


def latest_record(client_id: int) -> ConsentRecord | None:
    return db_session().scalar(
        select(ConsentRecord)
        .where(ConsentRecord.client_id == client_id)
        .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
        .limit(1)
    )


def current_consent(client_id: int, reference: str | None = None) -> ConsentRecord | None:
    """The client's consent that lets a session go ahead, or ``None``.

    The latest decision counts: an accepted consent within its validity period, or one
    given for this very appointment. A later decline withdraws an earlier acceptance.
    """
    record = latest_record(client_id)
    if record is None or record.decision != "accepted":
        return None
    if record.is_valid() or (reference is not None and record.reference == reference):
        return record
    return None


def new_record(**fields: Any) -> ConsentRecord:
    now = utcnow()
    accepted = fields.get("decision") == "accepted"
    return ConsentRecord(
        recorded_at=now, valid_until=now + validity() if accepted else None, **fields
    )


def contact_field(channel: str) -> str:
    return "phone" if channel == "sms" else "email"


def recipient_for(client: Client, channel: str, given: str | None) -> tuple[str, bool]:
    """Where to send, and whether ``given`` was added to the client (it was missing).

    A number or address on file is used as it is; one typed on the screen is accepted only
    when the client has none, and only when valid.
    """
    if channel not in ("sms", "email"):
        raise ConsentFlowError("Choose SMS or email.", "channel")
    field = contact_field(channel)
    on_file = client.phone if channel == "sms" else client.email
    if on_file:
        return on_file, False
    what = "mobile number" if channel == "sms" else "email address"
    if not (given or "").strip():
        raise ConsentFlowError(
            f"{client.first_name} has no {what} on file: add one to send by "
            f"{'SMS' if channel == 'sms' else 'email'}.",
            field,
        )
    try:
        value = normalise_phone(given or "") if channel == "sms" else normalise_email(given or "")
    except InvalidRecipient as exc:
        raise ConsentFlowError(f"That {what} cannot be used: {exc}", field) from exc
    return value, True


def save_contact(client: Client, channel: str, value: str) -> None:
    """Add the missing number or address, audited; the caller commits."""
    field = contact_field(channel)
    setattr(client, field, value)
    db_session().flush()
    audit(
        "consent.client_contact_added",
        target=f"client:{client.id}",
        details={"field": field},
        source=SOURCE,
    )


# --- message templates ----------------------------------------------------------------------


def template_problems(text: str | None, *, require_link: bool, channel: str = "") -> list[str]:
    """What is wrong with a template text (empty: nothing)."""
    problems: list[str] = []
    if not text:
        return ["Write the message."] if require_link else []
    allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        return [f"The braces do not match ({exc}); write {{{{ or }}}} for a literal brace."]
    used: set[str] = set()
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name == "" or name.isdigit():
            problems.append(f"Name every placeholder; use one of {allowed}.")
        elif name not in PLACEHOLDERS:
            problems.append(f"Unknown placeholder {{{name}}}; use one of {allowed}.")
        elif spec or conversion:
            problems.append(f"Write {{{name}}} without a format or conversion.")
        used.add(name)
    if require_link and "link" not in used:
        problems.append("The message must contain {link}.")
    if channel == "sms" and not problems:
        sample = render_text(text, sample_values())
        if len(sample) > SMS_MAX_CHARACTERS:
            problems.append(
                f"An SMS holds at most {SMS_MAX_CHARACTERS} characters; this one has about "
                f"{len(sample)}."
            )
    return problems


def sample_values() -> dict[str, str]:
    return {
        "client_first_name": "Alexandra",
        "client_last_name": "Rivera-Montgomery",
        "practice_name": str(setting("PRACTICE_NAME")),
        "clinician_name": "Casey Morgan",
        "appointment_time": "Wednesday 30 September 2026, 10:00\u201310:50 (America/New_York)",
        "link": "https://backoffice.example.org/join/" + "x" * 32,
    }


def render_text(text: str, values: dict[str, str]) -> str:
    return text.format_map({name: values.get(name, "") for name in PLACEHOLDERS})


def template_for(purpose: str, channel: str) -> tuple[str | None, str]:
    """The practice's (valid) template, else the built-in default."""
    row = db_session().scalar(
        select(MessageTemplate).where(
            MessageTemplate.purpose == purpose, MessageTemplate.channel == channel
        )
    )
    if (
        row is not None
        and not template_problems(row.body, require_link=True)
        and not (template_problems(row.subject, require_link=False))
    ):
        return row.subject, row.body
    if row is not None:
        current_app.logger.warning(
            "consent template %s/%s is invalid: using the default", purpose, channel
        )
    return DEFAULT_TEMPLATES[(purpose, channel)]


def message_values(client: Client, clinician_name: str, link: str, when: str) -> dict[str, str]:
    return {
        "client_first_name": client.first_name,
        "client_last_name": client.last_name,
        "practice_name": str(setting("PRACTICE_NAME")),
        "clinician_name": clinician_name,
        "appointment_time": when,
        "link": link,
    }


def deliver(purpose: str, channel: str, recipient: str, values: dict[str, str]) -> Any:
    """Send through core messaging; returns the stored message (``status``, ``error``).

    Raises :class:`InvalidRecipient` for an unusable address or number."""
    subject, body = template_for(purpose, channel)
    text = render_text(body, values)
    if channel == "sms":
        return send_sms(recipient, text, source=SOURCE)
    title = render_text(subject or "{practice_name}", values)
    return send_email(recipient, title, text, source=SOURCE)


def invite_url(issued: Any) -> str:
    """The patient's link of an invite (``/join/<token>``, the waiting room's page).

    When the waiting room plugin is absent, the URL is built by hand on the same path."""
    try:
        return str(issued.url)
    except BuildError:
        return request.host_url.rstrip("/") + "/join/" + str(issued.token)


def person(user: Any) -> str:
    if user is None:
        return ""
    return f"{user.first_name} {user.last_name}".strip() or str(user.username)


def link_screen_url(ticket: str | None) -> str | None:
    if not ticket:
        return None
    return url_for("ConsentFlowView.link", ticket=ticket)
