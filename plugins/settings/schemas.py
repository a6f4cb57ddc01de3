"""Payloads of the Settings plugin's JSON routes."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from core.api import MAX_ID


class QuickViteSchema(Schema):
    """The QuickVite dialog; each field is checked further (phonenumbers, email-validator)
    by :func:`plugins.settings.service.check`, which names every problem."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(load_default="", validate=validate.Length(max=1000))
    phone = fields.String(load_default="", allow_none=True, validate=validate.Length(max=100))
    email = fields.String(load_default="", allow_none=True, validate=validate.Length(max=400))
    provider_id = fields.Integer(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(1, MAX_ID)
    )
    note = fields.String(load_default="", allow_none=True, validate=validate.Length(max=2000))


class RotateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    grace_hours = fields.Float(
        required=True,
        validate=validate.Range(0, 24 * 365),
        error_messages={"required": "Pick a grace period."},
    )


# --- answers (the OpenAPI document's response schemas) ----------------------------------


class DeliverySchema(Schema):
    channel = fields.String(required=True, metadata={"description": "sms or email"})
    recipient = fields.String()
    status = fields.String(required=True)
    problem = fields.String(
        allow_none=True, metadata={"description": "why it was not delivered, in plain words"}
    )


class SentSchema(Schema):
    id = fields.Integer(required=True)
    invite_id = fields.Integer(required=True)
    url = fields.String(required=True, metadata={"description": "the patient's link"})
    qr_svg = fields.String(required=True, metadata={"description": "the link as an SVG QR code"})
    expires_at = fields.String(required=True)
    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)


class RecentInviteSchema(Schema):
    id = fields.Integer(required=True)
    patient_name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    provider = fields.String(allow_none=True)
    sent_by = fields.String(allow_none=True)
    sent_at = fields.String(allow_none=True)
    opened_at = fields.String(allow_none=True)
    arrived_at = fields.String(allow_none=True)
    expires_at = fields.String(allow_none=True)
    status = fields.String(required=True)
    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)
    can_resend = fields.Boolean(required=True)
    can_revoke = fields.Boolean(required=True)


class RecentInvitesSchema(Schema):
    invites = fields.List(fields.Nested(RecentInviteSchema), required=True)


class FieldErrorsSchema(Schema):
    error = fields.String(required=True)
    fields = fields.Dict(keys=fields.String(), values=fields.Raw())


class RevokedSchema(Schema):
    ok = fields.Boolean(required=True)
