"""Input of the Session Details form (HTML form or JSON), validated with marshmallow 3."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from core.api import MAX_ID, ErrorSchema
from plugins.calendar.models import CANCELLED, CONTACT_TYPES, RECURRENCES, STATUSES
from plugins.calendar.schedule import parse_datetime

MAX_OCCURRENCES = 200
MAX_LENGTH = dt.timedelta(hours=12)


def _id(what: str) -> fields.Integer:
    return fields.Integer(
        required=True,
        strict=False,
        validate=validate.Range(min=1, max=MAX_ID, error=f"There is no {what} with that id."),
        error_messages={"required": f"Choose a {what}."},
    )


WHEN = {
    "type": "string",
    "example": "2026-03-10T10:00",
    "description": "ISO 8601; without an offset, in the practice's time zone",
}


class PracticeDateTime(fields.Field):
    """ISO 8601 date and time; without an offset, in the practice's time zone → naive UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("Give a date and time such as 2026-03-10T10:00.")
        try:
            return parse_datetime(value)
        except ValueError as exc:
            raise ValidationError(str(exc).capitalize() + ".") from exc


class AppointmentSchema(Schema):
    client_id = _id("client")
    clinician_id = _id("clinician")
    start = PracticeDateTime(
        required=True, error_messages={"required": "Give the start."}, metadata=WHEN
    )
    end = PracticeDateTime(
        required=True, error_messages={"required": "Give the end."}, metadata=WHEN
    )
    contact_type = fields.String(
        load_default="In person",
        validate=validate.OneOf(CONTACT_TYPES, error="Contact type must be one of {choices}."),
    )
    status = fields.String(
        load_default="Scheduled",
        validate=validate.OneOf(STATUSES, error="Status must be one of {choices}."),
    )
    notes = fields.String(load_default="", validate=validate.Length(max=4000))
    recurrence = fields.String(
        load_default="none",
        validate=validate.OneOf(list(RECURRENCES), error="Repeat must be one of {choices}."),
    )
    recurrence_count = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(
            min=1, max=MAX_OCCURRENCES, error="Occurrences must be between {min} and {max}."
        ),
    )
    recurrence_until = fields.Date(load_default=None, allow_none=True)
    scope = fields.String(load_default="series", validate=validate.OneOf(["series", "occurrence"]))
    occurrence = fields.String(load_default=None, allow_none=True)
    view = fields.String(load_default=None, allow_none=True)

    class Meta:
        # HTML forms carry the CSRF token and the submit button's name.
        unknown = "exclude"

    @pre_load
    def blanks_are_missing(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValidationError("Send the appointment as a form or a JSON object.")
        cleaned: dict[str, Any] = {}
        for key in data:
            value = data.get(key)
            if isinstance(value, str):
                value = value.strip()
                if value == "":
                    continue
            cleaned[key] = value
        return cleaned

    @post_load
    def single_has_no_rule(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("recurrence", "none") == "none":
            data["recurrence_count"] = None
            data["recurrence_until"] = None
        return data

    @validates_schema
    def consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None:
            if end <= start:
                raise ValidationError("The end must be after the start.", "end")
            if end - start > MAX_LENGTH:
                raise ValidationError("An appointment lasts at most 12 hours.", "end")
        if data.get("recurrence", "none") == "none":
            return
        count, until = data.get("recurrence_count"), data.get("recurrence_until")
        if count is None and until is None:
            raise ValidationError(
                "A repeating appointment needs a number of occurrences or an end date.",
                "recurrence_count",
            )
        if count is not None and until is not None:
            raise ValidationError(
                "Give a number of occurrences or an end date, not both.", "recurrence_until"
            )
        if until is not None and start is not None:
            if until < start.date():
                raise ValidationError("The series cannot end before it starts.", "recurrence_until")
            if until > start.date() + dt.timedelta(days=5 * 366):
                raise ValidationError("A series lasts at most five years.", "recurrence_until")


def first_messages(errors: Mapping[str, Any]) -> dict[str, str]:
    """marshmallow's nested messages → one sentence per field."""
    flat: dict[str, str] = {}
    for key, value in errors.items():
        if isinstance(value, list) and value:
            flat[key] = str(value[0])
        elif isinstance(value, Mapping):
            flat[key] = "; ".join(first_messages(value).values())
        else:
            flat[key] = str(value)
    return flat


# --- the calendar's JSON routes ---------------------------------------------------------------

VIEW_NAMES = ("timeGridDay", "timeGridWeek", "dayGridMonth")


class CalendarPageQuerySchema(Schema):
    view = fields.String(metadata={"enum": list(VIEW_NAMES)})
    date = fields.String(metadata={"example": "2026-03-10"})
    clinician_id = fields.String(metadata={"description": "whose calendar to show first"})


class EventsQuerySchema(Schema):
    start = fields.String(required=True, metadata=WHEN)
    end = fields.String(required=True, metadata=WHEN)
    clinician_id = fields.Integer(metadata={"description": "only this clinician's"})


class NewAppointmentQuerySchema(Schema):
    start = fields.String(metadata=WHEN)
    end = fields.String(metadata=WHEN)
    clinician_id = fields.String()
    client_id = fields.String()
    view = fields.String()


class OccurrenceQuerySchema(Schema):
    occurrence = fields.String(
        metadata={"description": "one occurrence of a series (its key); none: the row itself"}
    )


class EventDetailsSchema(Schema):
    appointment_id = fields.Integer(required=True)
    occurrence = fields.String(required=True, allow_none=True)
    client_id = fields.Integer(required=True)
    clinician_id = fields.Integer(required=True)
    clinician = fields.String(required=True)
    contact_type = fields.String(required=True, metadata={"enum": list(CONTACT_TYPES)})
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    recurring = fields.Boolean(required=True)
    overlap = fields.Boolean(required=True)
    overlaps_with = fields.List(fields.Integer(), required=True)
    telehealth_allowed = fields.Boolean(required=True)
    start_utc = fields.String(required=True)
    end_utc = fields.String(required=True)


class CalendarEventSchema(Schema):
    """An appointment (or one occurrence of a series) as the FullCalendar widget reads it."""

    id = fields.String(required=True, metadata={"description": "<appointment>[@<occurrence>]"})
    title = fields.String(required=True, metadata={"description": "the client's name"})
    start = fields.String(required=True, metadata={"description": "wall-clock, practice zone"})
    end = fields.String(required=True)
    url = fields.String(required=True)
    classNames = fields.List(fields.String(), required=True)
    extendedProps = fields.Nested(EventDetailsSchema, required=True)


class AppointmentErrorSchema(ErrorSchema):
    errors = fields.Dict(
        keys=fields.String(), values=fields.String(), metadata={"description": "field: why"}
    )


class TelehealthRuleSchema(Schema):
    allowed = fields.Boolean(required=True)
    reason = fields.String(required=True, allow_none=True)
    telehealth_enabled = fields.Boolean(required=True)
    contact_type = fields.String(required=True)
    status = fields.String(required=True)
    allowed_statuses = fields.List(fields.String(), required=True)


class StartedSchema(Schema):
    allowed = fields.Boolean(required=True)
    location = fields.String(
        required=True, metadata={"description": "the consent step, with its signed ticket"}
    )


class StartRefusedSchema(ErrorSchema):
    allowed = fields.Boolean(required=True)


class FeedLinkSchema(Schema):
    url = fields.String(required=True, metadata={"description": "the secret .ics feed"})


# --- domain events this plugin emits (the event catalogue) ------------------------------


class AppointmentEventSchema(Schema):
    appointment_id = fields.Integer(strict=True, required=True)


class AppointmentCancelledEventSchema(Schema):
    appointment_id = fields.Integer(strict=True, required=True)
    client_id = fields.Integer(strict=True, required=True, allow_none=True)
    provider_id = fields.Integer(
        strict=True, required=True, allow_none=True, metadata={"description": "the clinician"}
    )
    starts_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    telehealth = fields.Boolean(required=True, metadata={"description": "contact type Telehealth"})
    at = fields.String(metadata={"description": "when it was cancelled (history replays)"})


class AppointmentReinstatedEventSchema(Schema):
    appointment_id = fields.Integer(strict=True, required=True)
    status = fields.String(
        required=True, validate=validate.OneOf([s for s in STATUSES if s != CANCELLED])
    )
