"""Payloads of the Staff Chat Socket.IO events (unknown fields are refused)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.api import MAX_ID
from plugins.staff_chat.models import MAX_BODY, is_channel_key

HISTORY_DEFAULT = 50
HISTORY_MAX = 100


def _channel_key(value: str) -> None:
    if not is_channel_key(value):
        raise ValidationError('Not a channel: use "practice" or "dm:<lower id>-<higher id>".')


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("The message is empty.")


def _channel(required: bool) -> fields.String:
    return fields.String(required=required, validate=_channel_key)


def _message_id(**options: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_ID), **options)


class ChannelsSchema(Schema):
    """``staff_chat.channels``: no arguments."""


class HistorySchema(Schema):
    channel = _channel(required=True)
    before_id = _message_id(load_default=None, allow_none=True)
    limit = fields.Integer(
        strict=True,
        load_default=HISTORY_DEFAULT,
        validate=validate.Range(min=1, max=HISTORY_MAX),
    )


class SendSchema(Schema):
    channel = _channel(required=False)
    to_user_id = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID))
    body = fields.String(required=True, validate=[validate.Length(min=1, max=MAX_BODY), _not_blank])

    @validates_schema
    def _one_destination(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if ("channel" in data) == ("to_user_id" in data):
            raise ValidationError("Give either channel or to_user_id.", "_schema")


class MarkReadSchema(Schema):
    channel = _channel(required=True)
    up_to_id = _message_id(load_default=None, allow_none=True)
