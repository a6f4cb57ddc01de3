"""Payloads: the Socket.IO event, the answer form and the domain events Intake emits."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MAX_ANSWER = 2000


class PendingSchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class AnswersSchema(Schema):
    """The answer page's form: one answer per question, in order."""

    answers = fields.List(
        fields.String(validate=validate.Length(max=MAX_ANSWER)),
        required=True,
        validate=validate.Length(min=1, max=50),
    )


class IntakeRequestedEventSchema(Schema):
    form_id = fields.Integer(strict=True, required=True)
    entry_id = fields.Integer(strict=True, required=True)
    client_id = fields.Integer(strict=True, required=True, allow_none=True)


class IntakeCompletedEventSchema(IntakeRequestedEventSchema):
    answered = fields.Integer(strict=True, required=True)
    completed_by = fields.Integer(strict=True, required=True, allow_none=True)
