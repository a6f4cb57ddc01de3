"""Payloads of the Consent plugin's Socket.IO events."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api import MAX_ID


class RequestStatusSchema(Schema):
    request_id = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID)
    )


# --- the domain events this plugin emits (its entries in the event catalogue) ------------


class ConsentEventSchema(Schema):
    """``consent.recorded`` / ``consent.declined``."""

    client_id = fields.Integer(required=True)
    consent_id = fields.Integer(required=True)
    reference = fields.String(allow_none=True)
    kind = fields.String(required=True)


class SessionLinkSentEventSchema(Schema):
    """``consent.session_link_sent``: the session invite went out by SMS or email."""

    client_id = fields.Integer(required=True)
    reference = fields.String(allow_none=True)
    invite_id = fields.Integer(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(["sms", "email"]))
    status = fields.String(required=True)
    link_id = fields.Integer(required=True)
