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
