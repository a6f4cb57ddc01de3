"""Payloads of the Consent plugin's Socket.IO events."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api import MAX_ID


class RequestStatusSchema(Schema):
    request_id = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID)
    )
