"""Payloads of the waiting room's Socket.IO events (marshmallow 3; unknown fields refused)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api import MAX_ID, ErrorSchema
from plugins.waiting_room.models import (
    AVAILABILITIES,
    COPAY_METHODS,
    COPAY_STATUSES,
)

MESSAGE_MAX = 2000


def _id(**options: bool) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **options)


def _entry_id() -> fields.Integer:
    return _id(required=True)


def _text(max_length: int, **options: object) -> fields.String:
    return fields.String(validate=validate.Length(max=max_length), **options)


def _body() -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, max=MESSAGE_MAX))


# --- staff ---------------------------------------------------------------------------


class SubscribeSchema(Schema):
    """Join the live waiting room; no payload."""


class SnapshotSchema(Schema):
    # all: every provider; mine: the caller's patients; unassigned; or a provider's user id.
    scope = fields.String(
        load_default="all",
        validate=validate.Regexp(r"^(all|mine|unassigned|[1-9][0-9]{0,9})$"),
    )


class HeartbeatSchema(Schema):
    """The staff page's periodic check-in; runs the grace-period and alert sweep."""


class EntrySchema(Schema):
    entry_id = _entry_id()


class RemoveSchema(Schema):
    entry_id = _entry_id()
    reason = _text(200, load_default=None)


class StaffMessageSchema(Schema):
    entry_id = _entry_id()
    body = _body()


class TransferSchema(Schema):
    entry_id = _entry_id()
    to_provider_id = _id(required=True)
    note = _text(200, load_default=None)


class CopaySchema(Schema):
    entry_id = _entry_id()
    status = fields.String(required=True, validate=validate.OneOf(COPAY_STATUSES))
    amount_cents = fields.Integer(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(min=0, max=10**7)
    )
    method = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(COPAY_METHODS)
    )


class MuteSchema(Schema):
    muted = fields.Boolean(required=True)


class AvailabilitySchema(Schema):
    availability = fields.String(required=True, validate=validate.OneOf(AVAILABILITIES))
    note = _text(200, load_default=None, allow_none=True)


# --- patient -------------------------------------------------------------------------


class StatusSchema(Schema):
    """The patient's snapshot and heartbeat: where am I, who am I waiting for. ``known``:
    the ``entry_version`` of the view the page holds; when nothing changed since, the
    answer leaves out the chat (``unchanged: true``) and the page keeps its own."""

    known = fields.Integer(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(min=0)
    )


class PatientMessageSchema(Schema):
    body = _body()


class DeviceCheckSchema(Schema):
    camera = fields.Boolean(required=True)
    microphone = fields.Boolean(required=True)
    skipped = fields.Boolean(load_default=False)
    latency_ms = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(min=0, max=60_000)
    )
    socket_latency_ms = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(min=0, max=60_000)
    )
    error = _text(200, load_default=None, allow_none=True)
    browser = _text(200, load_default=None, allow_none=True)


class LeaveSchema(Schema):
    """The patient chose to leave the waiting room."""


# --- the patients' HTTP routes (check-in, leaving the page) ----------------------------------


class ArrivalSchema(Schema):
    token = fields.String(required=True, metadata={"description": "the patient token"})
    entry_id = fields.Integer(required=True)
    created = fields.Boolean(
        required=True, metadata={"description": "false: the same entry, found again"}
    )


class JoinErrorSchema(ErrorSchema):
    problems = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "the form's fields and what is wrong with each"},
    )


class AwaySchema(Schema):
    token = fields.String(required=True, metadata={"description": "the patient token"})
    csrf_token = fields.String(metadata={"description": "the page's CSRF token"})


class EntryEventSchema(Schema):
    """The keys every ``patient.*`` event carries (``room.domain_payload``): ids, no names."""

    entry_id = fields.Integer(required=True)
    status = fields.String(required=True)
    invite_id = fields.Integer(allow_none=True)
    invite_kind = fields.String(required=True)
    client_id = fields.Integer(allow_none=True)
    provider_id = fields.Integer(allow_none=True)
    arrived_at = fields.String(required=True)
    admitted_at = fields.String(allow_none=True)
    ended_at = fields.String(allow_none=True)
    waited_seconds = fields.Integer(allow_none=True)
    copay_status = fields.String(required=True)
    copay_cents = fields.Integer(allow_none=True)
    #: When it happened (ISO, UTC); set on every event, and on replayed history.
    at = fields.String()


class AdmittedEventSchema(EntryEventSchema):
    admitted_by = fields.Integer(allow_none=True)
    session_url = fields.String(allow_none=True)


class ByEventSchema(EntryEventSchema):
    by = fields.Integer(allow_none=True)


class TransferredEventSchema(EntryEventSchema):
    from_provider_id = fields.Integer(allow_none=True)
    to_provider_id = fields.Integer(required=True)
    transferred_by = fields.Integer(allow_none=True)


class LeftEventSchema(EntryEventSchema):
    reason = fields.String(validate=validate.OneOf(["patient_left", "grace_expired"]))


class RemovedEventSchema(ByEventSchema):
    reason = fields.String(validate=validate.OneOf(["removed", "no_show"]))


class CopayEventSchema(ByEventSchema):
    method = fields.String(allow_none=True, validate=validate.OneOf(COPAY_METHODS))


class MessageEventSchema(EntryEventSchema):
    sender = fields.String(validate=validate.OneOf(["staff", "patient"]))


class WaitingLongEventSchema(EntryEventSchema):
    level = fields.String(validate=validate.OneOf(["provider", "practice"]))
    waiting_seconds = fields.Integer()
