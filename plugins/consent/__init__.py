"""Consent: telehealth consent, verbal or signed in the patient portal, then the session link.

The flow
    The calendar's *Start Telehealth Session* redirects to ``/consent/start?ticket=...``.
    The ticket is the calendar's signed start ticket (``itsdangerous``, the app's
    ``SECRET_KEY``, salt ``"calendar.start"``; see the calendar package's docstring): this
    plugin trusts nothing else, so the screen cannot be reached by typing its URL, only
    through the calendar, which enforced the telehealth rule. The ticket must be issued to
    the signed-in user and younger than ``CONSENT_TICKET_MAX_AGE`` seconds.

    1. Start screen: *Accept Verbal Consent* (recorded with the clinician, the time and the
       form's version) or *Send Consent Form to Portal* (a core ``portal`` invite whose
       link, ``/portal/consent/<token>``, goes by SMS or email). A valid consent on file
       (accepted, within ``CONSENT_VALIDITY_DAYS``, not followed by a decline) skips this
       screen.
    2. Portal: the client reads the form and accepts (then signs, drawn on a vendored
       signature pad or typed) or declines. The clinician who sent it gets the Socket.IO
       notification ``consent.decided`` in room ``user:<id>``; selecting it opens step 3.
    3. Session (link) screen: SMS or email, adding a missing phone number or email address
       (validated by core messaging's rules, saved to the client, audited). *Next* creates
       a core ``appointment`` invite (``/join/<token>``: the waiting room) and sends it with
       the practice's message template.

Records
    Consent records are immutable (the app refuses to change them; database triggers
    refuse UPDATE and DELETE) and versioned by the form's version and text hash. They are
    listed, shown and printable under Consent → Consent Records; every read is audited.

Domain events emitted
    ``consent.recorded`` and ``consent.declined`` (``{client_id, consent_id, reference,
    kind}``) and ``consent.session_link_sent`` (``{client_id, reference, invite_id,
    channel, status, link_id}``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from core.api import (
    Assets,
    EventSpec,
    MenuView,
    PluginInfo,
    PortalActivity,
    PortalSection,
    Setting,
    SocketEvent,
    hookimpl,
)

NAME = "consent"


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Consent",
        version="0.1.0",
        description="Telehealth consent: verbal or signed in the patient portal.",
        menu_section="Consent",
        menu_icon="fa-file-text-o",
        menu_order=35,
        api_version=1,
    )


@hookimpl
def backoffice_config_defaults() -> dict[str, Any]:
    return {
        "CONSENT_VALIDITY_DAYS": 365,
        "CONSENT_TICKET_MAX_AGE": 12 * 3600,
        "CONSENT_PORTAL_LINK_HOURS": 72,
        "CONSENT_SIGNATURE_MAX_BYTES": 300_000,
    }


@hookimpl
def backoffice_load_models() -> None:
    from plugins.consent import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from plugins.consent.views import (
        ConsentFlowView,
        ConsentFormView,
        ConsentRecordView,
        MessageTemplateView,
    )

    return [
        MenuView(ConsentFlowView, None),
        MenuView(ConsentRecordView, "Consent Records", icon="fa-check-square-o"),
        MenuView(ConsentFormView, "Consent Forms", icon="fa-file-text-o"),
        MenuView(MessageTemplateView, "Message Templates", icon="fa-envelope-o"),
    ]


@hookimpl
def backoffice_blueprints() -> list[Blueprint]:
    from plugins.consent.views import portal_pages

    return [portal_pages]


@hookimpl
def backoffice_portal_sections() -> list[PortalSection]:
    return [PortalSection("consent", "Consent forms", "consent_portal.section", order=20)]


@hookimpl
def backoffice_portal_activity(client_id: int) -> list[PortalActivity]:
    from plugins.consent.views import portal_activity

    return portal_activity(client_id)


@hookimpl
def backoffice_socket_events() -> list[SocketEvent]:
    from plugins.consent.events import EVENTS

    return EVENTS


@hookimpl
def backoffice_assets() -> Assets:
    return Assets(js=("consent/notify.js",), css=("consent/consent.css",))


@hookimpl
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    records = [
        ("can_read", "ConsentRecord"),
        ("menu_access", "Consent"),
        ("menu_access", "Consent Records"),
    ]
    admin = [
        ("can_list", "ConsentForm"),
        ("can_show", "ConsentForm"),
        ("can_add", "ConsentForm"),
        ("can_list", "ConsentMessageTemplate"),
        ("can_show", "ConsentMessageTemplate"),
        ("can_edit", "ConsentMessageTemplate"),
        ("menu_access", "Consent"),
        ("menu_access", "Consent Forms"),
        ("menu_access", "Message Templates"),
    ]
    return {
        "Clinician": [("can_record", "TelehealthConsent"), *records],
        "Staff": records,
        "Practice Admin": admin,
    }


@hookimpl
def backoffice_help_articles() -> list[object]:
    from pathlib import Path

    from core.api import HelpArticle

    return list(HelpArticle.from_folder(Path(__file__).parent / "help"))


@hookimpl
def backoffice_tour_steps() -> list[object]:
    from core.api import TourStep

    return [
        TourStep(
            "#consent-records",
            "Consent records",
            "Every consent given or declined, verbal or signed in the portal, with its form "
            "version and how long it is valid.",
            "/consent/records/",
            order=36,
        )
    ]


@hookimpl
def backoffice_declared_events() -> list[EventSpec]:
    from plugins.consent.schemas import ConsentEventSchema, SessionLinkSentEventSchema

    return [
        EventSpec(
            "consent.recorded", "The client accepted telehealth consent.", ConsentEventSchema
        ),
        EventSpec(
            "consent.declined", "The client declined telehealth consent.", ConsentEventSchema
        ),
        EventSpec(
            "consent.session_link_sent",
            "The session link (an invite) went to the client by SMS or email.",
            SessionLinkSentEventSchema,
        ),
    ]


@hookimpl
def backoffice_settings() -> list[Setting]:
    return [
        Setting("CONSENT_VALIDITY_DAYS", "A consent is valid for (days)", "int", minimum=1),
        Setting(
            "CONSENT_PORTAL_LINK_HOURS",
            "A consent form link works for (hours)",
            "int",
            minimum=1,
        ),
    ]
