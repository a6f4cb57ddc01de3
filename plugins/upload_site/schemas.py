"""Payloads of the Upload Site's Socket.IO events and of the domain events it emits."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api import MAX_ID

ID = {"required": True, "strict": True, "validate": validate.Range(min=1, max=MAX_ID)}


class UnreadSchema(Schema):
    """``upload_site.unread``: no fields; the snapshot a staff page asks for on (re)connect."""


class ClientFilesSchema(Schema):
    client_id = fields.Integer(**ID)


class ReceivedEventSchema(Schema):
    """Domain event ``upload_site.received``: a file was uploaded for a client."""

    upload_id = fields.Integer(required=True)
    client_id = fields.Integer(required=True)
    via = fields.String(required=True, validate=validate.OneOf(("portal", "link", "staff")))
    type = fields.String(required=True)
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True, validate=validate.Length(equal=64))


class DeletedEventSchema(Schema):
    """Domain event ``upload_site.deleted``: a file was (softly) deleted by staff."""

    upload_id = fields.Integer(required=True)
    client_id = fields.Integer(required=True)
