"""Upload Site: documents from patients (portal or a one-time link) and staff, per client.

Patients upload from the portal's "My uploads" section (signed in: ``portal_client()``)
or through a one-time upload link staff send by email or SMS. Staff see an inbox per
client with unread state, are told live when a patient uploads, preview PDFs and images
inline, download, mark read or unread, and delete (softly). Every look at a file, every
download and every deletion is audited.

Limits are practice settings (size, number of files, allowed types, link lifetime); the
type is decided from the content (``filetype``), never from the name. Files are kept
outside the web root under a random name with their SHA-256, in a local folder under the
instance folder or in an S3-compatible store (``UPLOAD_SITE_STORAGE=s3``).

Domain events emitted: ``upload_site.received`` and ``upload_site.deleted`` (see
``backoffice_declared_events``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

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

NAME = "upload_site"
SECTION = "Upload Site"


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Upload Site",
        version="0.1.0",
        description="Documents from patients and staff, per client, with a live inbox.",
        menu_section=SECTION,
        menu_icon="fa-upload",
        menu_order=12,
        api_version=1,
    )


@hookimpl
def backoffice_config_defaults() -> dict[str, Any]:
    return {
        # practice settings (see backoffice_settings)
        "UPLOAD_SITE_MAX_MB": 20,
        "UPLOAD_SITE_MAX_FILES": 10,
        "UPLOAD_SITE_ALLOWED_TYPES": "pdf, jpg, png, heic, webp, gif, tif",
        "UPLOAD_SITE_LINK_HOURS": 72,
        # where "My uploads" sends a patient who is not signed in to the portal
        "UPLOAD_SITE_PORTAL_SIGN_IN_URL": "/portal/",
        # deployment: where the files live
        "UPLOAD_SITE_STORAGE": "local",  # local | s3
        "UPLOAD_SITE_LOCAL_DIR": "",  # empty: <instance>/upload_site
        "UPLOAD_SITE_S3_BUCKET": "",
        "UPLOAD_SITE_S3_PREFIX": "uploads/",
        "UPLOAD_SITE_S3_ENDPOINT_URL": "",  # empty: AWS itself
        "UPLOAD_SITE_S3_REGION": "",
        "UPLOAD_SITE_S3_ACCESS_KEY": "",  # empty: boto3's own credential chain
        "UPLOAD_SITE_S3_SECRET_KEY": "",
    }


@hookimpl
def backoffice_settings() -> list[Setting]:
    from plugins.upload_site.service.intake import KNOWN_TYPES

    return [
        Setting(
            "UPLOAD_SITE_MAX_MB",
            "Largest upload (MB)",
            type="int",
            help="One upload, all its files together; larger ones are refused.",
            section=SECTION,
        ),
        Setting(
            "UPLOAD_SITE_MAX_FILES",
            "Files per upload",
            type="int",
            section=SECTION,
        ),
        Setting(
            "UPLOAD_SITE_ALLOWED_TYPES",
            "Accepted file types",
            help="Comma-separated, judged by each file's content: " + ", ".join(KNOWN_TYPES),
            section=SECTION,
        ),
        Setting(
            "UPLOAD_SITE_LINK_HOURS",
            "Upload links work for (hours)",
            type="int",
            section=SECTION,
        ),
    ]


@hookimpl
def backoffice_load_models() -> None:
    from plugins.upload_site import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from plugins.upload_site.views import UploadInboxView

    return [MenuView(UploadInboxView, "Inbox", icon="fa-inbox")]


@hookimpl
def backoffice_blueprints() -> list[Blueprint]:
    from plugins.upload_site.views import patient_pages

    return [patient_pages]


@hookimpl
def backoffice_portal_sections() -> list[PortalSection]:
    return [
        PortalSection(
            "upload_site", "My uploads", "upload_site_patient.portal", order=40, icon="fa-upload"
        )
    ]


@hookimpl
def backoffice_socket_events() -> list[SocketEvent]:
    from plugins.upload_site.events import EVENTS

    return EVENTS


@hookimpl
def backoffice_declared_events() -> list[EventSpec]:
    from plugins.upload_site.schemas import DeletedEventSchema, ReceivedEventSchema

    return [
        EventSpec(
            "upload_site.received",
            "A document was uploaded for a client (by the patient in the portal, through "
            "an upload link, or by staff).",
            ReceivedEventSchema,
        ),
        EventSpec("upload_site.deleted", "Staff deleted (softly) an upload.", DeletedEventSchema),
    ]


@hookimpl
def backoffice_assets() -> Assets:
    return Assets(js=("upload_site/notify.js",), css=("upload_site/upload_site.css",))


@hookimpl
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    menu = [("menu_access", SECTION), ("menu_access", "Inbox")]
    work = [
        ("can_read", "UploadInbox"),
        ("can_upload", "UploadInbox"),
        ("can_request", "UploadInbox"),
        *menu,
    ]
    return {
        "Staff": work,
        "Clinician": [*work, ("can_delete", "UploadInbox")],
        "Practice Admin": [*work, ("can_delete", "UploadInbox")],
    }


@hookimpl
def backoffice_seed_demo(password: str) -> None:
    from plugins.upload_site.service.demo import seed

    seed()


@hookimpl
def backoffice_startup(app: Flask) -> None:
    from flask import request
    from werkzeug.exceptions import RequestEntityTooLarge

    from core.api import is_plugin_enabled
    from plugins.upload_site.service.intake import limit_request, too_large_response
    from plugins.upload_site.service.storage import init_storage
    from plugins.upload_site.views import UPLOAD_ENDPOINTS

    init_storage(app)

    def cap_uploads(endpoint: str | None, values: Any) -> None:
        # URL preprocessors run before every before-request guard, so the cap is set
        # before the host's input checks and CSRF read (and so parse) the form.
        if endpoint in UPLOAD_ENDPOINTS and request.method == "POST" and is_plugin_enabled(NAME):
            limit_request()

    def too_large(error: RequestEntityTooLarge) -> Any:
        if request.endpoint in UPLOAD_ENDPOINTS:
            return too_large_response()
        return error

    app.url_value_preprocessor(cap_uploads)
    app.register_error_handler(RequestEntityTooLarge, too_large)


@hookimpl
def backoffice_portal_activity(client_id: int) -> list[PortalActivity]:
    from plugins.upload_site.service.records import portal_activity

    return portal_activity(client_id)
