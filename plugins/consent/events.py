"""Socket.IO: the clinician's live notification when a client decides, and its snapshot.

Notification ``consent.decided`` goes to the requesting clinician only (room
``user:<id>``), with ``{request_id, consent_id, client_id, client_name, decision,
reference, link_url, record_url}``; ``link_url`` opens the session (link) screen when the
client accepted. A page that (re)connects asks ``consent.request_status`` for the state.

Domain events: ``consent.recorded`` / ``consent.declined`` with ``{client_id, consent_id,
reference, kind}``, and ``consent.session_link_sent`` with ``{client_id, reference,
invite_id, channel, status, link_id}``.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from sqlalchemy import select

from core.api import (
    PatientInvite,
    SocketContext,
    SocketError,
    SocketEvent,
    db_session,
    emit_domain_event,
    notify,
)
from plugins.consent.models import ConsentRecord, ConsentRequest, utcnow
from plugins.consent.schemas import RequestStatusSchema
from plugins.consent.service import SOURCE, link_screen_url

PERMISSION = ("can_record", "TelehealthConsent")


def record_payload(record: ConsentRecord) -> dict[str, Any]:
    return {
        "client_id": record.client_id,
        "consent_id": record.id,
        "reference": record.reference,
        "kind": record.kind,
    }


def announce_record(record: ConsentRecord) -> None:
    """Let other plugins know of a new decision (after it was committed)."""
    name = "consent.recorded" if record.decision == "accepted" else "consent.declined"
    emit_domain_event(name, record_payload(record), source=SOURCE)


def status_of(request: ConsentRequest) -> dict[str, Any]:
    session = db_session()
    record = session.scalar(select(ConsentRecord).where(ConsentRecord.request_id == request.id))
    state = "pending"
    if record is not None:
        state = record.decision
    else:
        invite = session.get(PatientInvite, request.invite_id)
        if invite is None or invite.revoked_at is not None or invite.expires_at <= utcnow():
            state = "expired"
    return {
        "request_id": request.id,
        "client_id": request.client_id,
        "client_name": request.client.full_name,
        "state": state,
        "decision": record.decision if record else None,
        "consent_id": record.id if record else None,
        "reference": request.reference,
        "link_url": link_screen_url(request.ticket) if state == "accepted" else None,
        "record_url": url_for("ConsentRecordView.show", pk=record.id) if record else None,
    }


def announce_decision(request: ConsentRequest, record: ConsentRecord) -> None:
    """The live notification to the clinician who sent the form, and the domain event."""
    notify("consent.decided", status_of(request), room=f"user:{request.clinician_id}")
    announce_record(record)


def request_status(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    """The snapshot a start screen fetches on (re)connect."""
    request = db_session().get(ConsentRequest, payload["request_id"])
    if request is None or request.clinician_id != context.user_id:
        raise SocketError("not_found", "you sent no consent request with that id")
    return status_of(request)


EVENTS = [
    SocketEvent(
        "consent.request_status", request_status, RequestStatusSchema, permission=PERMISSION
    )
]
