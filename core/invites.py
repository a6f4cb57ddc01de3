"""Patient invites: the links that let a patient with no account into the practice.

Any plugin creates them (QuickVite from settings, appointment links from the calendar,
one-time guest links from a session) and the waiting room honours them, through
``core.api.create_invite`` / ``core.api.resolve_invite``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from flask import current_app, url_for
from sqlalchemy import select

from core import audit
from core.database import db
from core.models import PatientInvite, utcnow

KINDS = ("quickvite", "appointment", "external", "guest", "portal")


class InviteError(ValueError):
    """An invite that cannot be created as asked."""


@dataclass(frozen=True)
class IssuedInvite:
    """A new invite and its secret token; the token is shown once and never stored."""

    invite: PatientInvite
    token: str

    @property
    def url(self) -> str:
        return url_for(current_app.config["INVITE_ENDPOINT"], token=self.token, _external=True)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_invite(
    kind: str,
    *,
    source: str,
    client_id: int | None = None,
    provider_id: int | None = None,
    reference: str | None = None,
    ttl: dt.timedelta | None = None,
    created_by: str | None = None,
    commit: bool = True,
) -> IssuedInvite:
    """A new invite, audited. ``commit=False`` joins the caller's transaction: the invite
    and its audit row are written by the caller's commit, with the change they serve."""
    if kind not in KINDS:
        raise InviteError(f"invite kind must be one of {', '.join(KINDS)}, not {kind!r}")
    lifetime = ttl or dt.timedelta(seconds=current_app.config["INVITE_TTL"])
    if lifetime <= dt.timedelta(0):
        raise InviteError("an invite must live for some time")
    token = secrets.token_urlsafe(24)  # 192 bits
    invite = PatientInvite(
        token_hash=_hash(token),
        kind=kind,
        client_id=client_id,
        provider_id=provider_id,
        reference=reference,
        source=source,
        created_by=created_by or audit.current_actor() or "system",
        expires_at=utcnow() + lifetime,
    )
    db.session.add(invite)
    db.session.flush()
    audit.record(
        "invite.created",
        target=f"invite:{invite.id}",
        details={
            "kind": kind,
            "client_id": client_id,
            "provider_id": provider_id,
            "reference": reference,
        },
        source=source,
        commit=False,
    )
    if commit:
        db.session.commit()
    return IssuedInvite(invite, token)


def resolve_invite(token: str, *, commit: bool = True) -> PatientInvite | None:
    """The live invite for ``token``, or ``None`` when unknown, expired or revoked; its
    last use is recorded (by the caller's commit when ``commit=False``)."""
    if not isinstance(token, str) or not 16 <= len(token) <= 128:
        return None
    invite = db.session.scalar(
        select(PatientInvite).where(PatientInvite.token_hash == _hash(token))
    )
    if invite is None or invite.revoked_at is not None or invite.expires_at <= utcnow():
        return None
    first_use = invite.last_used_at is None
    invite.last_used_at = utcnow()
    if commit:
        db.session.commit()
        if first_use:
            _announce_opened(invite)
    return invite


def _announce_opened(invite: PatientInvite) -> None:
    """``invite.opened`` (``invite_id``, ``kind``): the patient opened the link the first
    time; e.g. Settings' Recent invites shows it at once."""
    from core.api import emit_domain_event

    payload = {"invite_id": invite.id, "kind": invite.kind}
    emit_domain_event("invite.opened", payload, source="core")


def revoke_invite(invite_id: int, *, source: str, commit: bool = True) -> None:
    """Revoke an invite, audited (by the caller's commit when ``commit=False``)."""
    invite = db.session.get(PatientInvite, invite_id)
    if invite is None:
        raise InviteError(f"no invite with id {invite_id}")
    if invite.revoked_at is None:
        invite.revoked_at = utcnow()
        audit.record("invite.revoked", target=f"invite:{invite_id}", source=source, commit=False)
        if commit:
            db.session.commit()
