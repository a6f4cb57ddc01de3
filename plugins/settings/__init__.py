"""Settings: Patient QuickVite, the Waitroom External Join codes, practice settings, the
navigation's order, and Logout (seed 000, item g).

Domain events this plugin emits: ``invite.sent`` (a QuickVite went out). It listens to
``patient.arrived`` and ``invite.opened`` to keep Recent invites up to date.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from core.api import (
    Assets,
    DomainEvent,
    EventSpec,
    MenuLink,
    MenuView,
    PluginInfo,
    Setting,
    TopbarItem,
    hookimpl,
    rate_limit_problem,
)

NAME = "settings"
STAFF_ROLES = ("Clinician", "Staff", "Practice Admin")


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Settings",
        version="1.0.0",
        description="Patient QuickVite, the practice's join links and practice settings.",
        menu_section="Settings",
        menu_icon="fa-cog",
        menu_order=70,
    )


@hookimpl
def backoffice_config_defaults() -> dict[str, Any]:
    from plugins.settings.service import CONFIG_DEFAULTS

    return dict(CONFIG_DEFAULTS)


@hookimpl
def backoffice_load_models() -> None:
    from plugins.settings import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from plugins.settings.views import (
        JoinCodesView,
        NavigationView,
        PracticeSettingsView,
        QuickViteView,
    )

    return [
        MenuView(QuickViteView, "Patient QuickVite", icon="fa-paper-plane"),
        MenuView(JoinCodesView, "Waitroom External Join Codes", icon="fa-link"),
        MenuView(PracticeSettingsView, "Practice Settings", icon="fa-sliders"),
        MenuView(NavigationView, "Navigation", icon="fa-bars"),
    ]


@hookimpl
def backoffice_menu_links() -> list[MenuLink]:
    return [MenuLink("Logout", "/logout/", icon="fa-sign-out")]


@hookimpl
def backoffice_topbar_items() -> list[TopbarItem]:
    return [
        TopbarItem("quickvite", "settings/topbar_quickvite.html", ("can_send", "QuickVite"), 10)
    ]


@hookimpl
def backoffice_assets() -> Assets:
    return Assets(js=("settings/quickvite.js",), css=("settings/settings.css",))


@hookimpl
def backoffice_settings() -> list[Setting]:
    templates = "Message templates"
    words = (
        "Placeholders: {patient_name}, {provider_name}, {practice_name}, {link}, {expires}, {note}."
    )
    return [
        Setting(
            "QUICKVITE_SMS_TEMPLATE",
            "QuickVite text message",
            "text",
            help=words,
            section=templates,
        ),
        Setting(
            "QUICKVITE_EMAIL_SUBJECT", "QuickVite email subject", help=words, section=templates
        ),
        Setting(
            "QUICKVITE_EMAIL_TEMPLATE", "QuickVite email", "text", help=words, section=templates
        ),
        Setting(
            "QUICKVITE_LINK_HOURS",
            "A QuickVite link works for (hours)",
            "int",
            minimum=1,
            section="Patient QuickVite",
        ),
        Setting(
            "QUICKVITE_PHONE_REGION",
            "Country of mobile numbers given without +code",
            help="Two letters, e.g. US, CA, GB.",
            section="Patient QuickVite",
        ),
        Setting(
            "QUICKVITE_RATE_LIMIT",
            "QuickVites one staff member may send",
            help='e.g. "30 per hour"; more are refused with a message.',
            section="Patient QuickVite",
            check=rate_limit_problem,
        ),
        Setting(
            "QUICKVITE_RECIPIENT_RATE_LIMIT",
            "QuickVites one number or address may receive",
            help='e.g. "5 per hour", so nobody is flooded with texts.',
            section="Patient QuickVite",
            check=rate_limit_problem,
        ),
        Setting(
            "JOIN_CODE_GRACE_HOURS",
            "Suggested grace period when a join link is replaced (hours)",
            "int",
            minimum=0,
            section="Waitroom External Join Codes",
        ),
    ]


@hookimpl
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    everyone = [
        ("can_show", "QuickVite"),
        ("can_send", "QuickVite"),
        ("can_show", "JoinCodes"),
        ("menu_access", "Settings"),
        ("menu_access", "Patient QuickVite"),
        ("menu_access", "Waitroom External Join Codes"),
        ("menu_access", "Logout"),
    ]
    admin = [
        ("can_rotate", "JoinCodes"),
        ("can_read", "PracticeSettings"),
        ("can_write", "PracticeSettings"),
        ("can_read", "Navigation"),
        ("can_write", "Navigation"),
        ("menu_access", "Practice Settings"),
        ("menu_access", "Navigation"),
    ]
    grants = {role: list(everyone) for role in STAFF_ROLES}
    grants["Practice Admin"] += admin
    grants["Security Admin"] = [("menu_access", "Settings"), ("menu_access", "Logout")]
    return grants


class InviteSentSchema(Schema):
    invite_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    provider_id = fields.Integer(allow_none=True)
    channels = fields.List(fields.String())


@hookimpl
def backoffice_declared_events() -> list[EventSpec]:
    return [
        EventSpec(
            "invite.sent",
            "Staff sent a patient a QuickVite link (by text and/or email).",
            InviteSentSchema,
        )
    ]


@hookimpl
def backoffice_record_event(event: DomainEvent) -> None:
    if event.name == "patient.arrived":
        from plugins.settings.service import record_arrival

        record_arrival(event.payload)


@hookimpl
def backoffice_domain_event(event: DomainEvent) -> None:
    from plugins.settings.service import announce_invite

    if event.name == "patient.arrived":
        announce_invite(event.payload, kind_key="invite_kind")
    elif event.name == "invite.opened":
        announce_invite(event.payload, kind_key="kind")


@hookimpl
def backoffice_startup(app: Any) -> None:
    from plugins.settings.service import default_provider, providers

    def quickvite_providers() -> dict[str, Any]:
        return {"list": providers(), "me": default_provider()}

    app.add_template_global(quickvite_providers, "settings_quickvite_providers")


@hookimpl
def backoffice_help_articles() -> list[object]:
    from pathlib import Path

    from core.api import HelpArticle

    return list(HelpArticle.from_folder(Path(__file__).parent / "help"))


def _quickvite_tour_page() -> str | None:
    """The home page, for users who hold the top bar's QuickVite button; nobody else."""
    from flask import current_app

    may_send = current_app.extensions["appbuilder"].sm.has_access("can_send", "QuickVite")
    return "/" if may_send else None


@hookimpl
def backoffice_tour_steps() -> list[object]:
    from core.api import TourStep

    return [
        TourStep(
            "#bo-quickvite",
            "Patient QuickVite",
            "Send a patient a waiting-room link by text or email from any page (Alt+Q); the "
            "link and a QR code are shown too, to read out or paste when delivery fails.",
            _quickvite_tour_page,
            order=2,
        )
    ]
