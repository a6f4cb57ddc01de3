"""Payloads of the Consent plugin's Socket.IO events."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api import MAX_ID


class RequestStatusSchema(Schema):
    request_id = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID)
    )


# --- domain events this plugin emits (the event catalogue) ------------------------------


class ConsentDecisionEventSchema(Schema):
    client_id = fields.Integer(strict=True, required=True)
    consent_id = fields.Integer(strict=True, required=True)
    reference = fields.String(required=True, allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(("verbal", "digital")))


class SessionLinkSentEventSchema(Schema):
    client_id = fields.Integer(strict=True, required=True)
    reference = fields.String(required=True, allow_none=True)
    invite_id = fields.Integer(strict=True, required=True)
    channel = fields.String(required=True, validate=validate.OneOf(("sms", "email")))
    status = fields.String(required=True)
    link_id = fields.Integer(strict=True, required=True)
