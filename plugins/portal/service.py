"""The portal's rules: one-time codes, signed links, patient sessions, staff actions."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app, request, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import joinedload

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
    within_rate_limit,
)
from plugins.portal.models import PortalAccess, PortalCode, PortalSession, utcnow

SOURCE = "portal"
LINK_SALT = "portal.link"
CODE_DIGITS = 6


class PortalError(ValueError):
    """A request the portal refuses, with a message for the patient and an HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _code_hash(challenge: str, code: str) -> str:
    key = (current_app.secret_key or "").encode()
    return hmac.new(key, f"{challenge}:{code}".encode(), hashlib.sha256).hexdigest()


def _address() -> str:
    return request.remote_addr or "unknown"


def _practice() -> str:
    return str(current_app.config.get("PRACTICE_NAME", ""))


def _minutes(key: str) -> dt.timedelta:
    return dt.timedelta(minutes=int(setting(key)))


# --- one-time codes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    channel: str  # email | sms
    value: str  # normalised


def destination_of(text: str) -> Destination:
    """An email address or a mobile number, as core messaging would use it."""
    raw = (text or "").strip()
    if not raw:
        raise PortalError("Enter the email address or mobile number the practice has on file.")
    if len(raw) > 200:
        raise PortalError("That is too long for an email address or a mobile number.")
    try:
        if "@" in raw:
            return Destination("email", normalise_email(raw))
        return Destination("sms", normalise_phone(raw))
    except InvalidRecipient as exc:
        raise PortalError(f"That cannot be used: {exc}") from exc


def clients_at(where: Destination) -> list[Client]:
    column = Client.email if where.channel == "email" else Client.phone
    return list(
        db_session().scalars(
            select(Client).where(func.lower(column) == where.value.lower()).limit(2)
        )
    )


def request_code(text: str) -> str:
    """Send a sign-in code to the address, when a client has it on file; returns the
    challenge the browser keeps. Unknown addresses get a challenge too (that never
    verifies), so the page does not tell who is a client. The caller's commit is this."""
    if not within_rate_limit(
        str(setting("PORTAL_CODE_RATE_LIMIT_ADDRESS")), "portal.code.address", _address()
    ):
        raise PortalError(
            "Too many sign-in codes were asked for from this connection. Wait a few minutes "
            "and try again, or call the practice.",
            429,
        )
    where = destination_of(text)
    challenge = secrets.token_urlsafe(24)
    found = clients_at(where)
    if not within_rate_limit(
        str(setting("PORTAL_CODE_RATE_LIMIT_CLIENT")),
        "portal.code.client",
        str(found[0].id) if len(found) == 1 else _hash(where.value),
    ):
        raise PortalError(
            "Several codes were sent to this address in the last minutes. Use the newest "
            "one, or wait a few minutes before asking again.",
            429,
        )
    if len(found) != 1:
        audit(
            "portal.code_refused",
            details={"channel": where.channel, "reason": "shared" if found else "unknown"},
            source=SOURCE,
            actor="portal",
        )
        if found:
            _send(where, _shared_text())
        db_session().commit()
        return challenge
    client = found[0]
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    now = utcnow()
    db_session().execute(  # a new code replaces any unused one
        update(PortalCode)
        .where(
            PortalCode.client_id == client.id,
            PortalCode.used_at.is_(None),
            PortalCode.expires_at > now,
        )
        .values(expires_at=now)
    )
    row = PortalCode(
        client_id=client.id,
        challenge_hash=_hash(challenge),
        code_hash=_code_hash(challenge, code),
        channel=where.channel,
        created_at=now,
        expires_at=now + _minutes("PORTAL_CODE_MINUTES"),
        ip=_address()[:64],
    )
    db_session().add(row)
    on_file = client.email if where.channel == "email" else client.phone
    message = _send(Destination(where.channel, on_file or where.value), _code_text(client, code))
    row.message_status = message.status
    db_session().flush()
    audit(
        "portal.code_sent",
        target=f"client:{client.id}",
        details={"channel": where.channel, "status": message.status, "code_id": row.id},
        source=SOURCE,
        actor=f"client:{client.id}",
    )
    db_session().commit()
    return challenge


def _code_text(client: Client, code: str) -> tuple[str, str, str]:
    minutes = int(setting("PORTAL_CODE_MINUTES"))
    sentence = (
        f"Your code to sign in to the patient portal of {_practice()} is {code}. "
        f"It works once, for {minutes} minutes."
    )
    return (
        f"Your sign-in code for {_practice()}",
        f"Hello {client.first_name},\n\n{sentence}\n\nIf you did not ask for it, ignore "
        "this message.\n",
        sentence,
    )


def _shared_text() -> tuple[str, str, str]:
    sentence = (
        f"Someone asked to sign in to the patient portal of {_practice()} with this address. "
        "Several people's records share it, so no code was sent: ask the practice for your "
        "own sign-in link."
    )
    return (f"Signing in to {_practice()}", sentence + "\n", sentence)


def _send(where: Destination, text: tuple[str, str, str]) -> Any:
    subject, body, short = text
    if where.channel == "sms":
        return send_sms(where.value, short, source=SOURCE)
    return send_email(where.value, subject, body, source=SOURCE)


def verify_code(challenge: str, code: str) -> tuple[Client, str]:
    """Sign in with the code sent for ``challenge``: the client and a new session token."""
    if not within_rate_limit(str(setting("PORTAL_VERIFY_RATE_LIMIT")), "portal.verify", _address()):
        raise PortalError(
            "Too many codes were tried from this connection. Wait a few minutes.", 429
        )
    digits = "".join((code or "").split())
    if not (digits.isascii() and digits.isdigit() and len(digits) == CODE_DIGITS):
        raise PortalError(f"Enter the {CODE_DIGITS}-digit code from the message.")
    row = (
        db_session().scalar(select(PortalCode).where(PortalCode.challenge_hash == _hash(challenge)))
        if challenge
        else None
    )
    now = utcnow()
    if row is None:
        raise PortalError("That code is not right, or no code was sent. Ask for a new code.")
    if row.used_at is not None:
        raise PortalError("This code was already used. Ask for a new code to sign in again.")
    if row.expires_at <= now:
        raise PortalError("This code has expired. Ask for a new code.")
    if row.attempts >= int(setting("PORTAL_CODE_ATTEMPTS")):
        raise PortalError("Too many wrong codes were tried. Ask for a new code.")
    if not hmac.compare_digest(row.code_hash, _code_hash(challenge, digits)):
        row.attempts += 1
        audit(
            "portal.code_failed",
            target=f"client:{row.client_id}",
            details={"code_id": row.id, "attempts": row.attempts},
            source=SOURCE,
            actor="portal",
        )
        db_session().commit()
        left = int(setting("PORTAL_CODE_ATTEMPTS")) - row.attempts
        raise PortalError(
            "That code is not right. "
            + (
                f"{left} more {'try' if left == 1 else 'tries'}."
                if left > 0
                else "Ask for a new code."
            )
        )
    row.used_at = now
    client = db_session().get(Client, row.client_id)
    assert client is not None
    token = start_session(client, row.channel)
    return client, token


# --- signed links -----------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=LINK_SALT)


def safe_next(path: str | None) -> str | None:
    """Only a path inside the portal: a link can never send a patient elsewhere."""
    if not path or not path.startswith("/portal") or path.startswith("//") or "\\" in path:
        return None
    return path


def make_link(client_id: int, next_path: str | None = None) -> str:
    token = _serializer().dumps({"c": int(client_id), "n": safe_next(next_path)})
    return url_for("portal.link", token=token, _external=True)


def read_link(token: str) -> tuple[Client, str | None]:
    """The client a signed link signs in, and where it leads; ``PortalError`` otherwise."""
    max_age = int(setting("PORTAL_LINK_HOURS")) * 3600
    try:
        claims, issued = _serializer().loads(token, max_age=max_age, return_timestamp=True)
    except SignatureExpired:
        raise PortalError("This sign-in link has expired. Ask for a code instead.", 410) from None
    except BadSignature:
        raise PortalError("This sign-in link is not valid. Ask for a code instead.", 404) from None
    client = db_session().get(Client, claims.get("c")) if isinstance(claims, dict) else None
    if client is None:
        raise PortalError("This sign-in link is not valid. Ask for a code instead.", 404)
    access = db_session().get(PortalAccess, client.id)
    issued_at = issued.astimezone(dt.UTC).replace(tzinfo=None)
    # Links carry whole seconds: one issued in the second of a revocation counts as before.
    if (
        access is not None
        and access.revoked_before
        and issued_at <= access.revoked_before.replace(microsecond=0)
    ):
        raise PortalError(
            "This sign-in link was withdrawn by the practice. Ask for a code instead.", 410
        )
    return client, safe_next(claims.get("n"))


# --- sessions ---------------------------------------------------------------------------------


def start_session(client: Client, method: str) -> str:
    """A new portal session for the client, audited; the caller commits."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = PortalSession(
        client_id=client.id,
        token_hash=_hash(token),
        method=method,
        created_at=now,
        last_seen_at=now,
        expires_at=now + _minutes("PORTAL_SESSION_MAX_MINUTES"),
        ip=_address()[:64],
        user_agent=(request.user_agent.string or "")[:300] or None,
    )
    db_session().add(row)
    db_session().flush()
    audit(
        "portal.signed_in",
        target=f"client:{client.id}",
        details={"method": method, "session_id": row.id},
        source=SOURCE,
        actor=f"client:{client.id}",
    )
    return token


def session_for(token: str | None) -> PortalSession | None:
    """The live session a cookie names (one query), or ``None``."""
    if not token or len(token) > 128:
        return None
    row = db_session().scalar(
        select(PortalSession)
        .options(joinedload(PortalSession.client))
        .where(PortalSession.token_hash == _hash(token))
    )
    now = utcnow()
    if (
        row is None
        or row.ended_at is not None
        or row.expires_at <= now
        or row.last_seen_at + _minutes("PORTAL_SESSION_IDLE_MINUTES") <= now
    ):
        return None
    return row


def end_session(row: PortalSession, reason: str) -> None:
    row.ended_at = utcnow()
    row.ended_reason = reason
    audit(
        "portal.signed_out",
        target=f"client:{row.client_id}",
        details={"session_id": row.id, "reason": reason},
        source=SOURCE,
        actor=f"client:{row.client_id}",
    )


# --- staff ------------------------------------------------------------------------------------


def find_clients(query: str, limit: int = 25) -> list[Client]:
    words = query.split()[:4]
    statement = select(Client).order_by(Client.last_name, Client.first_name).limit(limit)
    for word in words:
        like = f"%{word.lower()[:100]}%"
        statement = statement.where(
            or_(
                func.lower(Client.first_name).like(like),
                func.lower(Client.last_name).like(like),
                func.lower(func.coalesce(Client.email, "")).like(like),
                func.coalesce(Client.phone, "").like(like),
            )
        )
    return list(db_session().scalars(statement))


def revoke_access(client: Client, by: str) -> int:
    """End every session of the client and withdraw its signed links; the caller commits."""
    now = utcnow()
    live = list(
        db_session().scalars(
            select(PortalSession).where(
                PortalSession.client_id == client.id, PortalSession.ended_at.is_(None)
            )
        )
    )
    for row in live:
        row.ended_at, row.ended_reason = now, "revoked"
    access = db_session().get(PortalAccess, client.id) or PortalAccess(client_id=client.id)
    access.revoked_before, access.revoked_by = now, by
    db_session().add(access)
    db_session().execute(
        update(PortalCode)
        .where(PortalCode.client_id == client.id, PortalCode.used_at.is_(None))
        .values(expires_at=now)
    )
    audit(
        "portal.access_revoked",
        target=f"client:{client.id}",
        details={"sessions_ended": len(live)},
        source=SOURCE,
    )
    return len(live)


def send_access(client: Client, channel: str) -> Any:
    """Send the client a signed sign-in link by email or SMS; audited, the caller commits."""
    if channel not in ("email", "sms"):
        raise PortalError("Choose email or SMS.")
    on_file = client.email if channel == "email" else client.phone
    if not on_file:
        what = "email address" if channel == "email" else "mobile number"
        raise PortalError(f"{client.full_name} has no {what} on file.")
    link = make_link(client.id)
    hours = int(setting("PORTAL_LINK_HOURS"))
    try:
        if channel == "sms":
            message = send_sms(
                on_file,
                f"{_practice()}: sign in to your patient portal ({hours} h): {link}",
                source=SOURCE,
            )
        else:
            message = send_email(
                on_file,
                f"Your patient portal at {_practice()}",
                f"Hello {client.first_name},\n\nSign in to your patient portal with this link "
                f"(it works for {hours} hours and only for you):\n\n{link}\n\n{_practice()}\n",
                source=SOURCE,
            )
    except InvalidRecipient as exc:
        raise PortalError(f"The message cannot be sent: {exc}") from exc
    audit(
        "portal.access_sent",
        target=f"client:{client.id}",
        details={"channel": channel, "status": message.status},
        source=SOURCE,
    )
    return message


def activity(client_id: int) -> tuple[list[PortalSession], list[PortalCode]]:
    session = db_session()
    sessions = list(
        session.scalars(
            select(PortalSession)
            .where(PortalSession.client_id == client_id)
            .order_by(PortalSession.created_at.desc(), PortalSession.id.desc())
            .limit(25)
        )
    )
    codes = list(
        session.scalars(
            select(PortalCode)
            .where(PortalCode.client_id == client_id)
            .order_by(PortalCode.created_at.desc(), PortalCode.id.desc())
            .limit(25)
        )
    )
    return sessions, codes
