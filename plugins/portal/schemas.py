"""Payloads of the Patient Portal's domain events."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class SignedInSchema(Schema):
    client_id = fields.Integer(required=True)
    method = fields.String(required=True, validate=validate.OneOf(("code", "link")))
