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
    ``{"appointment_id": int}``, after the commit. An appointment whose status becomes
    Cancelled also emits ``calendar.appointment_cancelled`` (ids, its start in UTC, whether
    it is telehealth), and one set back from Cancelled ``calendar.appointment_reinstated``,
    both with the change's commit (``emit_on_commit``), so that what Reporting records of
    them is the same commit; ``backoffice_history_events`` replays the cancellations. Open
    calendar pages also get the Socket.IO notification ``calendar.changed`` (ids only) and
    refetch.

Configuration
    The host's ``PRACTICE_TIMEZONE`` (default UTC) for wall-clock times;
    ``CALENDAR_DEFAULT_MINUTES`` (50), ``CALENDAR_CONSENT_START_URL``, ``CALENDAR_ICS_PAST_DAYS`` /
    ``CALENDAR_ICS_FUTURE_DAYS`` (the feed's window) and ``CALENDAR_ICS_FEED_DETAILS``
    (``initials``, ``full`` or ``none``: how much a subscribed calendar app learns about
    the client).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint

from core.api import (
    DomainEvent,
    EventSpec,
    MenuView,
    PluginInfo,
    PortalSection,
    Setting,
    hookimpl,
)

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
        "CALENDAR_PORTAL_JOIN_MINUTES": 15,
    }


@hookimpl
def backoffice_settings() -> list[Setting]:
    return [
        Setting(
            "CALENDAR_PORTAL_JOIN_MINUTES",
            "Patients may join a telehealth appointment from (minutes before its start)",
            type="int",
            help="The Join button in the patient portal opens this many minutes early.",
            section="Calendar",
        ),
        Setting(
            "CALENDAR_DEFAULT_MINUTES",
            "Default appointment length (minutes)",
            "int",
            minimum=5,
            section="Calendar",
        ),
    ]


@hookimpl
def backoffice_portal_sections() -> list[PortalSection]:
    return [
        PortalSection("appointments", "Appointments", "calendar_portal.appointments", order=10),
        PortalSection("visits", "Past visits", "calendar_portal.visits", order=60),
    ]


@hookimpl
def backoffice_load_models() -> None:
    from plugins.calendar import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from plugins.calendar.views import CalendarView

    return [MenuView(CalendarView, "Calendar", icon="fa-calendar")]


@hookimpl
def backoffice_blueprints() -> list[Blueprint]:
    from plugins.calendar.portal import portal_pages
    from plugins.calendar.views import feed_pages

    return [feed_pages, portal_pages]


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
def backoffice_help_articles() -> list[object]:
    from pathlib import Path

    from core.api import HelpArticle

    return list(HelpArticle.from_folder(Path(__file__).parent / "help"))


def _startable_appointment() -> object | None:
    """The signed-in clinician's first telehealth appointment that may start now."""
    from flask_login import current_user
    from sqlalchemy import select

    from core.api import db_session
    from plugins.calendar.models import TELEHEALTH_STATUSES, Appointment

    return db_session().scalar(
        select(Appointment)
        .where(
            Appointment.clinician_id == int(current_user.id),
            Appointment.contact_type == "Telehealth",
            Appointment.status.in_(TELEHEALTH_STATUSES),
            Appointment.recurrence == "none",
        )
        .order_by(Appointment.start_at.desc())
        .limit(1)
    )


def _appointment_page() -> str | None:
    from flask import url_for

    appointment = _startable_appointment()
    return url_for("CalendarView.show", pk=appointment.id) if appointment else None  # type: ignore[attr-defined]


def _consent_page() -> str | None:
    """The consent screen that Start Telehealth Session opens, with a start ticket."""
    from urllib.parse import urlencode

    from flask_login import current_user

    from plugins.calendar.views import start_ticket

    appointment = _startable_appointment()
    if appointment is None:
        return None
    ticket = start_ticket(appointment, int(current_user.id))  # type: ignore[arg-type]
    return "/consent/start?" + urlencode({"ticket": ticket})


@hookimpl
def backoffice_tour_steps() -> list[object]:
    from core.api import TourStep

    return [
        TourStep(
            "#calendar",
            "Your calendar",
            "Click a free slot to schedule an appointment; choose Telehealth as its contact type.",
            "/calendar/",
            order=30,
        ),
        TourStep(
            "#start-telehealth",
            "Start Telehealth Session",
            "On a Telehealth appointment that is Confirmed, Checked-In or Occurred, this button "
            "starts the session: consent first, then the link to the client.",
            _appointment_page,
            order=31,
        ),
        TourStep(
            "#consent-verbal, #consent-on-file",
            "Consent",
            "Accept verbal consent, or send the consent form to the client's portal and be "
            "notified when they sign. A valid consent on file skips this step.",
            _consent_page,
            order=32,
        ),
    ]


@hookimpl
def backoffice_declared_events() -> list[EventSpec]:
    from plugins.calendar.schemas import (
        AppointmentCancelledEventSchema,
        AppointmentEventSchema,
        AppointmentReinstatedEventSchema,
    )

    return [
        EventSpec(
            "calendar.appointment_created", "An appointment was scheduled.", AppointmentEventSchema
        ),
        EventSpec(
            "calendar.appointment_updated",
            "An appointment changed (time, status, contact type, ...).",
            AppointmentEventSchema,
        ),
        EventSpec(
            "calendar.appointment_cancelled",
            "An appointment (or one occurrence of a series) was set to Cancelled.",
            AppointmentCancelledEventSchema,
        ),
        EventSpec(
            "calendar.appointment_reinstated",
            "A cancelled appointment was set back to another status.",
            AppointmentReinstatedEventSchema,
        ),
    ]


@hookimpl
def backoffice_history_events() -> Iterable[DomainEvent]:
    from plugins.calendar.events import history_events

    return history_events()
