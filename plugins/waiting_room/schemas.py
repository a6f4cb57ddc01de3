"""Payloads of the waiting room's Socket.IO events (marshmallow 3; unknown fields refused)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api import MAX_ID
from plugins.waiting_room.models import AVAILABILITIES, COPAY_STATUSES

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


# --- domain events this plugin emits (the event catalogue) ------------------------------


def _ref(**options: bool) -> fields.Integer:
    return fields.Integer(strict=True, allow_none=True, **options)


def _when() -> fields.DateTime:
    return fields.DateTime(required=True, allow_none=True)


class EntryEventSchema(Schema):
    """The keys every waiting-room event carries (``room.domain_payload``): ids, no names."""

    entry_id = _id(required=True)
    status = fields.String(required=True)
    invite_id = _ref(required=True)
    invite_kind = fields.String(required=True)
    client_id = _ref(required=True)
    provider_id = _ref(required=True)
    arrived_at = _when()
    admitted_at = _when()
    ended_at = _when()
    waited_seconds = _ref(required=True)
    copay_status = fields.String(required=True, validate=validate.OneOf(COPAY_STATUSES))
    copay_cents = _ref(required=True)


class AdmittedEventSchema(EntryEventSchema):
    admitted_by = _ref(required=True)
    session_url = fields.String(required=True, allow_none=True)


class ByStaffEventSchema(EntryEventSchema):
    by = _ref(required=True)


class TransferredEventSchema(EntryEventSchema):
    from_provider_id = _ref(required=True)
    to_provider_id = _ref(required=True)
    transferred_by = _ref(required=True)


class RemovedEventSchema(ByStaffEventSchema):
    reason = fields.String(required=True, validate=validate.OneOf(("removed", "no_show")))


class LeftEventSchema(EntryEventSchema):
    reason = fields.String(
        required=True, validate=validate.OneOf(("patient_left", "grace_expired"))
    )


class MessageEventSchema(EntryEventSchema):
    sender = fields.String(required=True, validate=validate.OneOf(("staff", "patient")))


class WaitingLongEventSchema(EntryEventSchema):
    level = fields.String(required=True, validate=validate.OneOf(("provider", "practice")))
    waiting_seconds = fields.Integer(strict=True, required=True)
