"""The rules of Settings: QuickVite (send, resend, revoke, recent) and the join links."""

from __future__ import annotations

import datetime as dt
import html
import io
import logging
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
import segno
from email_validator import EmailNotValidError, validate_email
from flask_login import current_user
from sqlalchemy import select

from core.api import (
    OutboundMessage,
    PatientInvite,
    audit,
    create_invite,
    db_session,
    emit_domain_event,
    join_code_url,
    notify,
    revoke_invite,
    send_email,
    send_sms,
    setting,
    staff_members,
    within_rate_limit,
)
from plugins.settings.models import QuickVite, utcnow

log = logging.getLogger(__name__)

SOURCE = "settings"
CAN_SHOW = ("can_show", "QuickVite")
RECENT_LIMIT = 25
NAME_MAX = 120
NOTE_MAX = 500
COPY_INSTEAD = " Copy the link instead."

DEFAULT_SMS = (
    "{practice_name}: {patient_name}, your provider {provider_name} invites you to the "
    "virtual waiting room: {link}"
)
DEFAULT_EMAIL_SUBJECT = "Your virtual waiting room link from {practice_name}"
DEFAULT_EMAIL = (
    "Hello {patient_name},\n\n{provider_name} at {practice_name} invites you to the virtual "
    "waiting room. Open this link on your phone or computer (it works until {expires}):\n\n"
    "{link}\n\n{note}"
)
CONFIG_DEFAULTS: dict[str, Any] = {
    "QUICKVITE_SMS_TEMPLATE": DEFAULT_SMS,
    "QUICKVITE_EMAIL_SUBJECT": DEFAULT_EMAIL_SUBJECT,
    "QUICKVITE_EMAIL_TEMPLATE": DEFAULT_EMAIL,
    "QUICKVITE_LINK_HOURS": 24,
    # Mobile numbers without a +country code are read as numbers of this region.
    "QUICKVITE_PHONE_REGION": "US",
    "JOIN_CODE_GRACE_HOURS": 72,  # the rotation form's suggested grace period
    # A stolen staff login must not become a spam cannon, nor anyone flood one patient.
    "QUICKVITE_RATE_LIMIT": "30 per hour",  # per staff user
    "QUICKVITE_RECIPIENT_RATE_LIMIT": "5 per hour",  # per mobile number or email address
}
TOO_MANY_SENDS = (
    "You have sent many QuickVites in a short time; wait a while before sending more, or "
    "copy a link from Recent invites."
)
TOO_MANY_FOR_RECIPIENT = (
    "{who} has already been sent several QuickVites in the last hour; wait before sending "
    "another, or read them the link from Recent invites."
)


class QuickViteError(ValueError):
    """Bad input, with a message per field."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(fields.values()))
        self.fields = fields


class TooManyQuickVites(Exception):
    """A send over a rate limit (HTTP 429); the message says what to do instead."""


def check_rate(request: Request) -> None:
    """Count the send against the sender's limit and each recipient's; nothing is
    created or sent when one is reached."""
    sender = str(getattr(current_user, "id", None) or "anonymous")
    if not within_rate_limit(setting("QUICKVITE_RATE_LIMIT"), "settings.quickvite", sender):
        raise TooManyQuickVites(TOO_MANY_SENDS)
    for field_name, address in (("mobile number", request.phone), ("email address", request.email)):
        if address and not within_rate_limit(
            setting("QUICKVITE_RECIPIENT_RATE_LIMIT"), "settings.quickvite.to", address.lower()
        ):
            raise TooManyQuickVites(TOO_MANY_FOR_RECIPIENT.format(who=f"This {field_name}"))


# --- recipients --------------------------------------------------------------------------


def parse_phone(raw: str) -> str:
    """E.164 via ``phonenumbers``; a number without + is read in ``QUICKVITE_PHONE_REGION``."""
    region = str(setting("QUICKVITE_PHONE_REGION") or "US").upper()
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValueError(
            "This is not a phone number. Enter a mobile number, e.g. (212) 555-0123 or "
            "+44 20 7946 0958."
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(
            "This phone number is not valid: check the digits, and add the country code "
            "(+44, +61, ...) for a number abroad."
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_email(raw: str) -> str:
    try:
        return str(validate_email(raw, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ValueError(f"This email address is not valid: {exc}") from None


@dataclass
class Request:
    """A checked QuickVite request."""

    name: str
    phone: str | None
    email: str | None
    provider_id: int | None
    note: str | None


def check(data: dict[str, Any]) -> Request:
    """The loaded payload, every field checked; :class:`QuickViteError` names each problem."""
    errors: dict[str, str] = {}
    name = " ".join(str(data.get("name") or "").split())
    if not name:
        errors["name"] = "Enter the patient's name."
    elif len(name) > NAME_MAX:
        errors["name"] = f"The name is longer than {NAME_MAX} characters."
    phone = email = None
    raw_phone = str(data.get("phone") or "").strip()
    raw_email = str(data.get("email") or "").strip()
    if not raw_phone and not raw_email:
        errors["phone"] = errors["email"] = "Give a mobile number, an email address, or both."
    if raw_phone:
        try:
            phone = parse_phone(raw_phone)
        except ValueError as exc:
            errors["phone"] = str(exc)
    if raw_email:
        try:
            email = parse_email(raw_email)
        except ValueError as exc:
            errors["email"] = str(exc)
    provider_id = data.get("provider_id")
    if provider_id is not None and provider_id not in {p["id"] for p in providers()}:
        errors["provider_id"] = "Choose a provider from the list."
    note = " ".join(str(data.get("note") or "").split()) or None
    if note and len(note) > NOTE_MAX:
        errors["note"] = f"The note is longer than {NOTE_MAX} characters."
    if errors:
        raise QuickViteError(errors)
    return Request(name, phone, email, provider_id, note)


def providers() -> list[dict[str, Any]]:
    """Clinicians who may log in, by name (the dialog's provider list)."""
    role = str(setting("WAITING_ROOM_PROVIDER_ROLE") or "Clinician")
    found = [m for m in staff_members(role) if m.can_log_in]
    return [{"id": m.id, "name": m.name or m.username} for m in sorted(found, key=_by_name)]


def _by_name(member: Any) -> tuple[str, int]:
    return ((member.name or member.username).lower(), member.id)


def default_provider() -> int | None:
    me = getattr(current_user, "id", None)
    return me if me in {p["id"] for p in providers()} else None


# --- sending -----------------------------------------------------------------------------


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template_key: str, fallback: str, values: dict[str, str]) -> str:
    """The practice's template filled in; a template with broken braces falls back to the
    built-in one (the admin is told in the log, the patient still gets a message)."""
    template = str(setting(template_key) or fallback)
    try:
        return template.format_map(_Blank(values)).strip()
    except (ValueError, IndexError):
        log.warning("the %s template is not valid; the built-in one was used", template_key)
        return fallback.format_map(_Blank(values)).strip()


@dataclass
class Delivery:
    channel: str
    recipient: str
    status: str
    problem: str | None


@dataclass
class Sent:
    quickvite: QuickVite
    url: str
    qr_svg: str
    expires_at: dt.datetime
    deliveries: list[Delivery] = field(default_factory=list)


def send(request: Request) -> Sent:
    """Create the invite and send it; one QuickVite row, audited, then announced.
    :class:`TooManyQuickVites` when a rate limit is reached."""
    check_rate(request)
    session = db_session()
    ttl = dt.timedelta(hours=float(setting("QUICKVITE_LINK_HOURS")))
    issued = create_invite(
        "quickvite", source=SOURCE, provider_id=request.provider_id, ttl=ttl, commit=False
    )
    row = QuickVite(
        invite_id=issued.invite.id,
        patient_name=request.name,
        phone=request.phone,
        email=request.email,
        provider_id=request.provider_id,
        note=request.note,
        sent_by=getattr(current_user, "username", None),
        sent_at=utcnow(),
    )
    session.add(row)
    session.flush()
    url = issued.url
    sent = Sent(row, url, qr_svg(url), issued.invite.expires_at)
    values = _values(request, url, issued.invite.expires_at)
    # Core messaging stores each message (and so this transaction) before it tries.
    if request.phone:
        message = _deliver_sms(request.phone, values)
        row.sms_message_id = message.id
        sent.deliveries.append(_delivery(message))
    if request.email:
        message = _deliver_email(request.email, values)
        row.email_message_id = message.id
        sent.deliveries.append(_delivery(message))
    audit(
        "settings.quickvite_sent",
        target=f"quickvite:{row.id}",
        details={
            "invite_id": row.invite_id,
            "provider_id": row.provider_id,
            "channels": {d.channel: d.status for d in sent.deliveries},
        },
        source=SOURCE,
    )
    session.commit()
    emit_domain_event(
        "invite.sent",
        {
            "invite_id": row.invite_id,
            "kind": "quickvite",
            "provider_id": row.provider_id,
            "channels": [d.channel for d in sent.deliveries],
        },
        source=SOURCE,
    )
    changed(row.id)
    return sent


def _values(request: Request, url: str, expires_at: dt.datetime) -> dict[str, str]:
    from core.api import practice_timezone

    names = {p["id"]: p["name"] for p in providers()}
    local = expires_at.replace(tzinfo=dt.UTC).astimezone(practice_timezone())
    return {
        "practice_name": str(setting("PRACTICE_NAME")),
        "patient_name": request.name,
        "provider_name": names.get(request.provider_id or -1, "your provider"),
        "link": url,
        "note": request.note or "",
        "expires": local.strftime("%a %d %b %Y, %H:%M"),
    }


def _deliver_sms(phone: str, values: dict[str, str]) -> OutboundMessage:
    return send_sms(phone, render("QUICKVITE_SMS_TEMPLATE", DEFAULT_SMS, values), source=SOURCE)


def _deliver_email(address: str, values: dict[str, str]) -> OutboundMessage:
    subject = render("QUICKVITE_EMAIL_SUBJECT", DEFAULT_EMAIL_SUBJECT, values)
    body = render("QUICKVITE_EMAIL_TEMPLATE", DEFAULT_EMAIL, values)
    return send_email(address, subject, body, source=SOURCE)


def _delivery(message: OutboundMessage) -> Delivery:
    problem = message.problem + COPY_INSTEAD if message.problem else None
    return Delivery(message.channel, message.recipient, message.status, problem)


def resend(quickvite_id: int) -> Sent:
    """A new link to the same person (links are stored hashed, so the old one cannot be
    sent again); the old link stops working."""
    old = db_session().get(QuickVite, quickvite_id)
    if old is None:
        raise LookupError("There is no such QuickVite.")
    if old.replaced_by_id is not None:
        raise QuickViteError({"id": "This QuickVite was already sent again; resend the newest."})
    again = Request(old.patient_name, old.phone, old.email, old.provider_id, old.note)
    revoke_invite(old.invite_id, source=SOURCE, commit=False)
    sent = send(again)
    old.replaced_by_id = sent.quickvite.id
    db_session().commit()
    changed(old.id)
    return sent


def revoke(quickvite_id: int) -> None:
    row = db_session().get(QuickVite, quickvite_id)
    if row is None:
        raise LookupError("There is no such QuickVite.")
    revoke_invite(row.invite_id, source=SOURCE, commit=False)
    db_session().commit()
    changed(row.id)


def changed(quickvite_id: int) -> None:
    """Tell open Recent invites lists (staff allowed to see them) to fetch again."""
    notify("settings.quickvite_changed", {"id": quickvite_id}, permission=CAN_SHOW)


def record_arrival(payload: dict[str, Any]) -> None:
    """``patient.arrived``, recorded in the check-in's transaction: a QuickVite patient
    reached the waiting room."""
    if payload.get("invite_kind") != "quickvite" or not isinstance(payload.get("invite_id"), int):
        return
    row = db_session().scalar(select(QuickVite).where(QuickVite.invite_id == payload["invite_id"]))
    if row is not None and row.arrived_at is None:
        row.arrived_at = utcnow()


def announce_invite(payload: dict[str, Any], *, kind_key: str) -> None:
    """After an arrival or a first opening: open Recent invites lists fetch again."""
    if payload.get(kind_key) != "quickvite" or not isinstance(payload.get("invite_id"), int):
        return
    found = db_session().scalar(
        select(QuickVite.id).where(QuickVite.invite_id == payload["invite_id"])
    )
    if found is not None:
        changed(found)


# --- the list ------------------------------------------------------------------------------


def status_of(row: QuickVite, invite: PatientInvite, messages: list[OutboundMessage]) -> str:
    now = utcnow()
    if row.replaced_by_id is not None:
        return "resent"
    if invite.revoked_at is not None:
        return "revoked"
    if row.arrived_at is not None:
        return "arrived"
    if invite.expires_at <= now:
        return "expired"
    if invite.last_used_at is not None:
        return "opened"
    if messages and all(m.status == "failed" for m in messages):
        return "not delivered"
    return "sent"


def recent(limit: int = RECENT_LIMIT) -> list[dict[str, Any]]:
    """The latest QuickVites with their state: two queries whatever the length."""
    session = db_session()
    rows = session.execute(
        select(QuickVite, PatientInvite)
        .join(PatientInvite, PatientInvite.id == QuickVite.invite_id)
        .order_by(QuickVite.sent_at.desc(), QuickVite.id.desc())
        .limit(limit)
    ).all()
    ids = {i for q, _ in rows for i in (q.sms_message_id, q.email_message_id) if i}
    messages = (
        {
            m.id: m
            for m in session.scalars(select(OutboundMessage).where(OutboundMessage.id.in_(ids)))
        }
        if ids
        else {}
    )
    names = {p["id"]: p["name"] for p in providers()}
    found: list[dict[str, Any]] = []
    for row, invite in rows:
        sent = [messages[i] for i in (row.sms_message_id, row.email_message_id) if i in messages]
        status = status_of(row, invite, sent)
        found.append(
            {
                "id": row.id,
                "patient_name": row.patient_name,
                "phone": row.phone,
                "email": row.email,
                "provider": names.get(row.provider_id or -1),
                "sent_by": row.sent_by,
                "sent_at": _iso(row.sent_at),
                "opened_at": _iso(invite.last_used_at),
                "arrived_at": _iso(row.arrived_at),
                "expires_at": _iso(invite.expires_at),
                "status": status,
                "deliveries": [
                    {"channel": m.channel, "status": m.status, "problem": m.problem} for m in sent
                ],
                "can_resend": status not in {"resent", "arrived"},
                "can_revoke": status in {"sent", "opened", "not delivered"},
            }
        )
    return found


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


# --- QR codes and snippets --------------------------------------------------------------------


def qr_svg(url: str) -> str:
    """A QR code of ``url`` as an SVG data URI (drawn here, no third-party service)."""
    return str(segno.make(url, error="m").svg_data_uri(scale=4, border=2))


def qr_file(url: str, kind: str) -> bytes:
    buffer = io.BytesIO()
    qr = segno.make(url, error="m")
    if kind == "svg":
        qr.save(buffer, kind="svg", scale=8, border=4, xmldecl=True)
    else:
        qr.save(buffer, kind="png", scale=10, border=4)
    return buffer.getvalue()


def join_url(code: str) -> str:
    return join_code_url(code)


def snippet(url: str, label: str) -> str:
    """HTML for the practice's website: a link styled as a button (inline styles only, so
    it looks the same on any site)."""
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="noopener" '
        'style="display:inline-block;padding:10px 18px;background:#2a6ebb;color:#fff;'
        'border-radius:4px;font:600 16px sans-serif;text-decoration:none">'
        f"{html.escape(label)}</a>"
    )
