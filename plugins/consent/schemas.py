"""Payloads of the Consent plugin's Socket.IO events."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

#: The largest id an INTEGER column holds; a bigger one names no row (and SQLite cannot
#: even compare with it).
MAX_ID = 2**31 - 1


class RequestStatusSchema(Schema):
    request_id = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID)
    )
