"""The domain-event catalogue: every event a plugin emits, declared with its payload schema.

Plugins declare their events through ``backoffice_declared_events``. An event emitted
without a declaration, or with a payload its schema refuses, is a bug in the emitter:
in tests and debug mode (``DOMAIN_EVENTS_STRICT``, on under ``TESTING`` or ``DEBUG``)
``emit_domain_event`` raises :class:`EventContractError`; in production it is logged and
the event still goes out, so a practice never loses a listener's work to a typo.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields

from core.types import DomainEvent, EventSpec


class InviteOpenedSchema(Schema):
    invite_id = fields.Integer(strict=True, required=True)
    kind = fields.String(required=True)


#: The events the host itself emits (``core.invites``), in the catalogue beside the plugins'.
CORE_EVENTS = (
    EventSpec(
        "invite.opened",
        "A patient opened an invite link for the first time.",
        InviteOpenedSchema,
    ),
)


class EventContractError(Exception):
    """An event that is not in the catalogue, or whose payload does not match it."""


@dataclass(frozen=True)
class DeclaredEvent:
    """One entry of the catalogue: the spec and the plugin that declared it."""

    plugin: str
    spec: EventSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @functools.cached_property
    def validator(self) -> Schema:
        """One schema instance per event, kept: building a marshmallow schema costs more
        than validating a payload with it, and every emit is checked."""
        return self.spec.schema()


@dataclass(frozen=True)
class PayloadField:
    """One payload key as the catalogue shows it."""

    name: str
    type: str
    required: bool
    nullable: bool
    choices: tuple[str, ...] = ()


def validate_specs(plugin: str, specs: Iterable[Any]) -> list[EventSpec]:
    """A plugin's declarations, refused with the reason when they are malformed."""
    checked: list[EventSpec] = []
    for spec in specs:
        if not isinstance(spec, EventSpec):
            raise TypeError(f"backoffice_declared_events must return EventSpec items, got {spec!r}")
        if not isinstance(spec.schema, type) or not issubclass(spec.schema, Schema):
            raise TypeError(f"event {spec.name!r}: schema must be a marshmallow Schema class")
        if "." not in spec.name:
            raise ValueError(f"event {spec.name!r}: name it <area>.<what_happened>")
        checked.append(spec)
    return checked


def problem_with(event: DomainEvent, catalogue: dict[str, DeclaredEvent]) -> str | None:
    """Why ``event`` breaks the catalogue, or ``None`` when it is declared and matches."""
    declared = catalogue.get(event.name)
    if declared is None:
        return (
            f"domain event {event.name!r} (from {event.source}) is not declared: "
            "add an EventSpec to the emitting plugin's backoffice_declared_events"
        )
    if not isinstance(event.payload, dict):
        return f"domain event {event.name!r}: the payload must be a dict"
    errors = declared.validator.validate(event.payload)
    if errors:
        return f"domain event {event.name!r} does not match its declared payload: {errors}"
    return None


def payload_fields(schema: type[Schema]) -> list[PayloadField]:
    """The payload keys of a declared schema, in declaration order."""
    found: list[PayloadField] = []
    for name, field in schema().fields.items():
        choices: tuple[str, ...] = ()
        for validator in field.validators:
            options = getattr(validator, "choices", None)
            if options:
                choices = tuple(str(option) for option in options)
        found.append(
            PayloadField(
                name=field.data_key or name,
                type=_type_name(field),
                required=field.required,
                nullable=field.allow_none,
                choices=choices,
            )
        )
    return found


def _type_name(field: fields.Field) -> str:
    names = {
        fields.Integer: "int",
        fields.Float: "float",
        fields.Boolean: "bool",
        fields.DateTime: "ISO datetime",
        fields.Date: "ISO date",
        fields.String: "str",
        fields.Dict: "object",
        fields.List: "list",
    }
    for kind, label in names.items():
        if isinstance(field, kind):
            return label
    return type(field).__name__


def describe_payload(schema: type[Schema]) -> str:
    """``entry_id`` int, ``status`` str, ``client_id`` int|null, … for tables and pages."""
    parts = []
    for field in payload_fields(schema):
        kind = " | ".join(f'"{c}"' for c in field.choices) if field.choices else field.type
        if field.nullable:
            kind += " or null"
        optional = "" if field.required else " (optional)"
        parts.append(f"`{field.name}` {kind}{optional}")
    return ", ".join(parts) or "(none)"


def catalogue_markdown(catalogue: dict[str, DeclaredEvent]) -> str:
    """The guide's event table, generated from the catalogue (a test keeps them equal)."""
    lines = ["| event | emitted by | what happened | payload |", "| --- | --- | --- | --- |"]
    for name in sorted(catalogue):
        entry = catalogue[name]
        description = entry.spec.description.replace("|", "\\|")
        payload = describe_payload(entry.spec.schema).replace("|", "\\|")
        lines.append(f"| `{name}` | {entry.plugin} | {description} | {payload} |")
    return "\n".join(lines) + "\n"
