"""Calendar: appointments by day, week and month; start telehealth sessions.

What it offers
    ``/calendar/`` shows a vendored FullCalendar (day, week, month) fed by
    ``/calendar/events?start=&end=&clinician_id=``, which expands recurring series (weekly,
    every two weeks, monthly; a count or an end date) and flags overlapping appointments of
    one clinician. Clicking a vacant slot opens the Session Details form; clicking an
    appointment opens it. ``/calendar/ics/<user_id>.ics`` is one clinician's iCalendar feed
    for signed-in staff; ``/calendar/feed/<key>.ics`` is the same feed for calendar apps,
    behind a secret per-clinician key (only its hash is stored; made on the calendar page).

Start Telehealth Session, and how the consent plugin can trust it
    The button shows only when ``TELEHEALTH_ENABLED`` is on, the contact type is
    Telehealth and the status is Confirmed, Checked-In or Occurred. The server enforces the
    same rule in ``POST /calendar/appointments/<id>/start`` (HTTP 409 with the reason when
    it refuses; ``GET .../telehealth`` answers ``{allowed, reason}``).

    When it allows, the calendar does not call the consent plugin (plugins never import
    each other): it redirects to ``CALENDAR_CONSENT_START_URL`` (``/consent/start``) with a
    *start ticket*: an ``itsdangerous.URLSafeTimedSerializer`` payload signed with the
    app's ``SECRET_KEY`` and the salt ``"calendar.start"``::

        {"v": 1, "appointment_id": 12, "reference": "calendar:12", "client_id": 3,
         "provider_id": 5, "issued_to": <user who pressed the button>,
         "starts_at": "...Z", "ends_at": "...Z", "appointment_time": "<label>",
         "contact_type": "Telehealth", "status": "Confirmed"}

    The consent plugin accepts its start screen only with a valid, unexpired ticket issued
    to the signed-in user, so nobody can skip the rule by typing the consent URL.

Domain events emitted
    ``calendar.appointment_created`` and ``calendar.appointment_updated``, payload
    ``{"appointment_id": int}``. Open calendar pages also get the Socket.IO notification
    ``calendar.changed`` (ids only) and refetch.

Configuration
    The host's ``PRACTICE_TIMEZONE`` (default UTC) for wall-clock times;
    ``CALENDAR_DEFAULT_MINUTES`` (50), ``CALENDAR_CONSENT_START_URL``, ``CALENDAR_ICS_PAST_DAYS`` /
    ``CALENDAR_ICS_FUTURE_DAYS`` (the feed's window) and ``CALENDAR_ICS_FEED_DETAILS``
    (``initials``, ``full`` or ``none``: how much a subscribed calendar app learns about
    the client).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from core.api import EventSpec, MenuView, PluginInfo, hookimpl

NAME = "calendar"


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Calendar",
        version="0.1.0",
        description="Appointments by day, week and month; start telehealth sessions.",
        menu_section="Calendar",
        menu_icon="fa-calendar",
        menu_order=30,
        requires=("consent",),
        api_version=1,
    )


@hookimpl
def backoffice_config_defaults() -> dict[str, Any]:
    return {
        "CALENDAR_DEFAULT_MINUTES": 50,
        "CALENDAR_CONSENT_START_URL": "/consent/start",
        "CALENDAR_ICS_PAST_DAYS": 60,
        "CALENDAR_ICS_FUTURE_DAYS": 365,
        "CALENDAR_ICS_FEED_DETAILS": "initials",
    }


@hookimpl
def backoffice_load_models() -> None:
    from plugins.calendar import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from plugins.calendar.views import CalendarView

    return [MenuView(CalendarView, "Calendar", icon="fa-calendar")]


@hookimpl
def backoffice_blueprints() -> list[Blueprint]:
    from plugins.calendar.views import feed_pages

    return [feed_pages]


@hookimpl
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    menu = [("menu_access", "Calendar")]
    read = [("can_read", "Appointment"), *menu]
    write = [*read, ("can_write", "Appointment")]
    return {
        "Clinician": [*write, ("can_start", "Appointment")],
        "Staff": write,
        "Practice Admin": read,
    }


@hookimpl
def backoffice_seed_demo(password: str) -> None:
    from plugins.calendar.demo import seed

    seed()


@hookimpl
def backoffice_declared_events() -> list[EventSpec]:
    from plugins.calendar.schemas import AppointmentEventSchema

    return [
        EventSpec(
            "calendar.appointment_created", "An appointment was scheduled.", AppointmentEventSchema
        ),
        EventSpec(
            "calendar.appointment_updated",
            "An appointment changed (time, status, contact type, ...).",
            AppointmentEventSchema,
        ),
    ]
