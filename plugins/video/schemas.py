"""Payloads of the Video plugin's Socket.IO events (marshmallow 3; unknown fields refused)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.api import MAX_ID
from plugins.video.models import KEY_LENGTH, MAX_CHAT

MAX_SDP = 100_000
MAX_CANDIDATE = 2_000


def _session_id() -> fields.Integer:
    return fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=MAX_ID))


class SessionSchema(Schema):
    """Events that name only the session: join, leave, end, send back, links."""

    session_id = _session_id()


class DescriptionSchema(Schema):
    """An ``RTCSessionDescriptionInit``."""

    type = fields.String(
        required=True, validate=validate.OneOf(["offer", "answer", "pranswer", "rollback"])
    )
    sdp = fields.String(load_default="", validate=validate.Length(max=MAX_SDP))


class CandidateSchema(Schema):
    """An ``RTCIceCandidateInit`` (``candidate`` is empty for the end of candidates)."""

    candidate = fields.String(required=True, validate=validate.Length(max=MAX_CANDIDATE))
    sdpMid = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    sdpMLineIndex = fields.Integer(
        strict=True, allow_none=True, load_default=None, validate=validate.Range(min=0, max=64)
    )
    usernameFragment = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=256)
    )


class SignalSchema(Schema):
    """One WebRTC message for one other participant: a description or an ICE candidate."""

    session_id = _session_id()
    to = fields.String(required=True, validate=validate.Length(min=3, max=KEY_LENGTH))
    description = fields.Nested(DescriptionSchema, load_default=None)
    candidate = fields.Nested(CandidateSchema, load_default=None)
    # The sender's id for its RTCPeerConnection: a new id means a new connection.
    pc = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$"))

    @validates_schema
    def one_of_them(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if (data.get("description") is None) == (data.get("candidate") is None):
            raise ValidationError("send either a description or a candidate", "_schema")


class ChatSchema(Schema):
    session_id = _session_id()
    body = fields.String(required=True, validate=validate.Length(min=1, max=MAX_CHAT))

    @validates_schema
    def not_blank(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not str(data.get("body", "")).strip():
            raise ValidationError("write something", "body")


# --- the domain events this plugin emits (its entries in the event catalogue) ------------


class SessionEventSchema(Schema):
    """``session.started`` / ``session.ended`` (``service.domain_payload``): ids and times."""

    session_id = fields.Integer(required=True)
    reference = fields.String(required=True)
    entry_id = fields.Integer(allow_none=True)
    waiting_entry_id = fields.Integer(allow_none=True)
    provider_id = fields.Integer(required=True)
    clinician_id = fields.Integer(required=True)
    client_id = fields.Integer(allow_none=True)
    status = fields.String(required=True)
    started_at = fields.String(allow_none=True)
    ended_at = fields.String(allow_none=True)
    duration_seconds = fields.Integer(allow_none=True)
    participants = fields.Integer()
    ended_by = fields.Integer(allow_none=True)
    at = fields.String()


class SentBackEventSchema(Schema):
    entry_id = fields.Integer(allow_none=True)
    session_id = fields.Integer(required=True)
    by = fields.Integer(required=True)
