"""Patient Portal: patients sign in without a password and see what each plugin offers them.

Signing in
    A one-time code (6 digits, ``PORTAL_CODE_MINUTES`` = 10 minutes, single use, at most
    ``PORTAL_CODE_ATTEMPTS`` wrong tries) sent by email or SMS to an address the practice has
    on file, rate-limited per network address and per client; or a signed, expiring link
    (``core.api.portal_link(client_id)``) in any message the practice sends. Both are
    audited. A sign-in is a portal session (cookie ``PORTAL_COOKIE_NAME``, only its hash is
    stored) that ends after ``PORTAL_SESSION_IDLE_MINUTES`` idle or
    ``PORTAL_SESSION_MAX_MINUTES`` in all, and has nothing to do with staff logins.

What patients see
    ``/portal/`` lists the sections every enabled plugin contributes through
    ``backoffice_portal_sections``; a section is a page of that plugin's blueprint that
    extends ``portal/section.html``, reads ``core.api.portal_client()`` and is guarded by
    ``core.api.portal_required``.

Staff
    Patient Portal → Portal Access (opened in the dock): find a client, their portal
    activity (sign-ins, codes, and what the other plugins report through
    ``backoffice_portal_activity``), resend a sign-in link, revoke every session and link.

Domain events emitted
    ``portal.signed_in`` (``{client_id, method}``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

from core.api import (
    PORTAL_EXTENSION,
    EventSpec,
    MenuView,
    PluginInfo,
    Setting,
    hookimpl,
)

NAME = "portal"
SECTION = "Patient Portal"


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Patient Portal",
        version="0.1.0",
        description="Passwordless patient sign-in and the portal's sections; staff access.",
        menu_section=SECTION,
        menu_icon="fa-id-card-o",
        menu_order=45,
        api_version=1,
    )


@hookimpl
def backoffice_config_defaults() -> dict[str, Any]:
    return {
        "PORTAL_CODE_MINUTES": 10,
        "PORTAL_CODE_ATTEMPTS": 5,
        "PORTAL_CODE_RATE_LIMIT_ADDRESS": "10 per 15 minutes",
        "PORTAL_CODE_RATE_LIMIT_CLIENT": "3 per 15 minutes",
        "PORTAL_VERIFY_RATE_LIMIT": "30 per 15 minutes",
        "PORTAL_SESSION_IDLE_MINUTES": 15,
        "PORTAL_SESSION_MAX_MINUTES": 120,
        "PORTAL_LINK_HOURS": 72,
        "PORTAL_COOKIE_NAME": "bo_portal",
    }


@hookimpl
def backoffice_settings() -> list[Setting]:
    section = SECTION
    return [
        Setting(
            "PORTAL_SESSION_IDLE_MINUTES",
            "Portal sign-in ends after idle (minutes)",
            type="int",
            section=section,
        ),
        Setting(
            "PORTAL_SESSION_MAX_MINUTES",
            "Portal sign-in lasts at most (minutes)",
            type="int",
            section=section,
        ),
        Setting(
            "PORTAL_LINK_HOURS",
            "Signed sign-in links work for (hours)",
            type="int",
            section=section,
        ),
        Setting(
            "PORTAL_CODE_RATE_LIMIT_ADDRESS",
            "Sign-in codes per network address",
            help="e.g. 10 per 15 minutes",
            section=section,
        ),
        Setting(
            "PORTAL_CODE_RATE_LIMIT_CLIENT",
            "Sign-in codes per client",
            help="e.g. 3 per 15 minutes",
            section=section,
        ),
    ]


@hookimpl
def backoffice_declared_events() -> list[EventSpec]:
    from plugins.portal.schemas import SignedInSchema

    return [
        EventSpec("portal.signed_in", "A client signed in to the patient portal.", SignedInSchema)
    ]


@hookimpl
def backoffice_load_models() -> None:
    from plugins.portal import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from plugins.portal.views import PortalAccessView

    return [MenuView(PortalAccessView, "Portal Access", icon="fa-id-card-o")]


@hookimpl
def backoffice_blueprints() -> list[Blueprint]:
    from plugins.portal.views import pages

    return [pages]


@hookimpl
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    read = [
        ("can_read", "PatientPortal"),
        ("menu_access", SECTION),
        ("menu_access", "Portal Access"),
    ]
    manage = [*read, ("can_manage", "PatientPortal")]
    return {"Clinician": manage, "Staff": manage, "Practice Admin": read}


@hookimpl
def backoffice_startup(app: Flask) -> None:
    from core.api import portal_client, portal_sections
    from plugins.portal.views import PortalProvider, touch_session

    app.extensions[PORTAL_EXTENSION] = PortalProvider()
    app.after_request(touch_session)
    app.add_template_global(portal_client, "portal_client")
    app.add_template_global(portal_sections, "portal_sections")
