"""The public plugin API: the one module of core that plugins import.

Everything a plugin needs from the host is here: the hook marker, the value types it
returns from hooks, the model base, and accessors for the host's services. The rest of
``core`` is private to the host and may change without notice.
"""

from __future__ import annotations

import logging
from typing import Any

import pluggy
from flask_appbuilder import Model

from core import hookspecs
from core.immutable import allow_row_changes, forbid_row_changes
from core.inputs import MAX_ID
from core.invites import InviteError, create_invite, resolve_invite, revoke_invite
from core.join_codes import CodeMatch as JoinCodeMatch
from core.join_codes import JoinCodeError
from core.join_codes import active_codes as active_join_codes
from core.join_codes import all_codes as all_join_codes
from core.join_codes import rotate as rotate_join_code
from core.messaging import InvalidRecipient, normalise_email, normalise_phone
from core.models import Client, OutboundMessage, PatientInvite
from core.navigation import NavigationError
from core.navigation import reset as reset_navigation
from core.navigation import save as save_navigation
from core.navigation import sections as navigation_sections
from core.openapi import ApiResponse, ErrorSchema, json_route
from core.practice_settings import SECRET_SHOWN, SettingError
from core.practice_settings import form_sections as settings_form_sections
from core.practice_settings import save as save_settings
from core.ratelimit import rate_limited
from core.staff import StaffMember
from core.types import (
    API_VERSION,
    AUDIENCES,
    Assets,
    DashboardWidget,
    DomainEvent,
    EventSpec,
    GroupRule,
    HelpArticle,
    MenuLink,
    MenuView,
    PluginInfo,
    PortalActivity,
    PortalSection,
    ReportColumn,
    ReportFilters,
    ReportSpec,
    Setting,
    SocketContext,
    SocketError,
    SocketEvent,
    TopbarItem,
    TourStep,
)

__all__ = [
    "JoinCodeError",
    "active_join_codes",
    "all_join_codes",
    "rotate_join_code",
    "NavigationError",
    "reset_navigation",
    "save_navigation",
    "navigation_sections",
    "SECRET_SHOWN",
    "SettingError",
    "settings_form_sections",
    "save_settings",
    "API_VERSION",
    "AUDIENCES",
    "HelpArticle",
    "TourStep",
    "ApiResponse",
    "ErrorSchema",
    "json_route",
    "MAX_ID",
    "Assets",
    "DashboardWidget",
    "DomainEvent",
    "EventSpec",
    "GroupRule",
    "InvalidRecipient",
    "MenuLink",
    "MenuView",
    "Model",
    "PORTAL_EXTENSION",
    "PluginInfo",
    "PortalActivity",
    "PortalSection",
    "ReportColumn",
    "ReportFilters",
    "ReportSpec",
    "Setting",
    "SocketContext",
    "SocketError",
    "SocketEvent",
    "TopbarItem",
    "StaffMember",
    "Client",
    "InviteError",
    "PatientInvite",
    "allow_row_changes",
    "audit",
    "create_invite",
    "db_session",
    "commit",
    "emit_domain_event",
    "emit_on_commit",
    "forbid_row_changes",
    "group_rule_enabled",
    "hook_results",
    "plugin_of_endpoint",
    "hookimpl",
    "is_plugin_enabled",
    "new_patient_token",
    "normalise_email",
    "normalise_phone",
    "notify",
    "portal_client",
    "portal_activity",
    "portal_link",
    "portal_required",
    "portal_sections",
    "practice_timezone",
    "public_route",
    "rate_limit_problem",
    "file_type_words",
    "practice_logo_url",
    "store_practice_logo",
    "remove_practice_logo",
    "rate_limited",
    "resolve_invite",
    "revoke_invite",
    "send_email",
    "send_sms",
    "setting",
    "staff_members",
    "verify_patient_token",
    "within_rate_limit",
    "JoinCodeMatch",
    "OutboundMessage",
    "join_code_url",
    "join_code",
    "practice_join_code",
    "provider_join_code",
]

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT_NAME)


def db_session() -> Any:
    """The SQLAlchemy session of the current app context."""
    from core.database import db

    return db.session


def audit(
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    *,
    source: str,
    actor: str | None = None,
) -> None:
    """Append to the audit log in the caller's transaction: the row is written by the
    caller's commit, together with the change it records (or not at all when that change
    rolls back). The actor defaults to the logged-in user (else "system"); name it for
    patients, e.g. ``actor="client:12"``. Where from is filled in by the host."""
    from core import audit as _audit

    _audit.record(action, target, details, source=source, actor=actor, commit=False)


def emit_domain_event(name: str, payload: dict[str, Any], *, source: str) -> None:
    """Tell every enabled plugin now that something happened; call it after your commit.
    What plugins record of it is committed on its own: to share your one commit, use
    :func:`emit_on_commit` before it and :func:`commit` instead."""
    emit_on_commit(name, payload, source=source)
    commit()


def emit_on_commit(name: str, payload: dict[str, Any], *, source: str) -> None:
    """Emit a domain event with the change you are about to :func:`commit`: plugins that
    keep a record of it (``backoffice_record_event``) write into your transaction now, and
    listeners (``backoffice_domain_event``) hear it once the commit succeeded, never when
    it rolls back. The change and every record of it are one commit."""
    from core import transactions

    transactions.emit_on_commit(DomainEvent(name=name, payload=payload, source=source))


def commit(*, keep_loaded: bool = False) -> None:
    """Commit the current session once, then deliver the domain events emitted with it.
    ``keep_loaded`` keeps loaded rows as written instead of expiring them, for code that
    pushes what it committed without reading it back."""
    from core import transactions

    transactions.commit(keep_loaded=keep_loaded)


def is_plugin_enabled(name: str) -> bool:
    from core.plugins import plugin_manager

    return plugin_manager().states.is_enabled(name)


def notify(
    event: str,
    data: Any,
    *,
    namespace: str = "staff",
    room: str | None = None,
    permission: tuple[str, str] | None = None,
) -> None:
    """Push a Socket.IO event to clients on every worker.

    ``room`` is ``"staff"`` (every staff socket), ``"user:<id>"`` or ``"patient:<sub>"``;
    ``permission=(perm, view_menu)`` instead reaches only staff who hold it, which is how
    anything holding patient information should be broadcast.
    """
    from core.realtime import emit_to

    emit_to(event, data, namespace=namespace, room=room, permission=permission)


def staff_members(role: str | None = None) -> list[StaffMember]:
    """Staff users (optionally those holding ``role``), with whether they may log in now.
    Cached for a few seconds (``STAFF_CACHE_TTL``): cheap enough for every page and event."""
    from core.staff import staff_members as _members

    return _members(role)


def send_email(to: str, subject: str, body: str, *, source: str, html: str | None = None) -> Any:
    """Send an email now; returns the stored message with its delivery status."""
    from core.messaging import send_email as _send

    return _send(to, subject, body, html=html, source=source)


def send_sms(to: str, body: str, *, source: str) -> Any:
    """Send an SMS through the configured backend; returns the stored message."""
    from core.messaging import send_sms as _send

    return _send(to, body, source=source)


def new_patient_token(**claims: Any) -> str:
    """A signed, expiring token with a fresh 128-bit subject, for a patient with no account."""
    from core.tokens import new_patient_token as _new

    return _new(**claims)


def verify_patient_token(token: str, max_age: int | None = None) -> dict[str, Any] | None:
    """The claims of a patient token, or ``None`` when forged or expired (older than
    ``max_age`` seconds; default ``PATIENT_TOKEN_MAX_AGE``)."""
    from core.tokens import verify_patient_token as _verify

    return _verify(token, max_age=max_age)


def group_rule_enabled(rule: str, user: Any = None) -> bool:
    """Whether any role of ``user`` (default: the logged-in user) has the group rule on."""
    from flask_login import current_user

    from core import access

    target = current_user if user is None else user
    if not getattr(target, "is_authenticated", False):
        return False
    found = next((r for r in access.all_rules() if r.name == rule), None)
    if found is None:
        raise KeyError(f"no group rule named {rule!r}")
    return any(access.rule_enabled(role, found) for role in target.roles)


def public_route(reason: str) -> Any:
    """Mark a plain Flask view as open to anyone, e.g. a patient page guarded by its link
    token. The host's access checks (and its access-matrix test) need this decision on
    every route that is not a Flask-AppBuilder view with a permission."""

    def mark(view: Any) -> Any:
        view._backoffice_public = reason
        return view

    return mark


def practice_logo_url() -> str | None:
    """The practice's logo for a page: the one uploaded in Settings, else the configured
    ``PRACTICE_LOGO_URL``, else ``None`` (show the practice name)."""
    from core.practice_logo import logo_url

    return logo_url()


def store_practice_logo(data: bytes) -> None:
    """Keep an uploaded image as the practice's logo (PNG, JPEG, GIF or WebP, by content,
    at most 512 KB), audited; ``ValueError`` with the sentence to show when refused."""
    from core.practice_logo import store_logo

    store_logo(data)


def remove_practice_logo() -> None:
    """Go back to ``PRACTICE_LOGO_URL`` (or the practice name), audited."""
    from core.practice_logo import remove_logo

    remove_logo()


def file_type_words(extension: str | None, otherwise: str | None = None) -> str:
    """What an upload whose content says ``extension`` (``filetype``'s names) really is,
    in words ("a PDF", "a Windows program"), for the message that refuses it; ``otherwise``
    (else "a .xyz file") for a type the words do not know; ``None`` when nothing was
    recognised."""
    from core.inputs import file_type_words as _words

    return _words(extension, otherwise)


def rate_limit_problem(limit: object) -> str | None:
    """What is wrong with a rate limit's text (``None`` for "30 per hour"): a ready
    ``check`` for a :class:`Setting` that holds one."""
    from core.ratelimit import check_limit

    try:
        check_limit(str(limit))
    except ValueError:
        return 'write it like "30 per hour" or "5 per minute".'
    return None


def within_rate_limit(limit: str, *identifiers: str) -> bool:
    """Count one hit against ``limit`` (e.g. ``"20 per minute"``) for ``identifiers``, shared
    by every worker; false once it is reached. For Socket.IO handlers: raise
    ``SocketError("rate_limited", ...)`` when false. Views use ``@rate_limited``."""
    from core.ratelimit import within_limit

    return within_limit(limit, *identifiers)


def practice_timezone() -> Any:
    """The practice's time zone (config ``PRACTICE_TIMEZONE``) as a ``zoneinfo.ZoneInfo``."""
    from core.practice import practice_timezone as _zone

    return _zone()


def setting(key: str) -> Any:
    """The current value of a practice setting: what a practice admin set in Settings,
    else the environment or config default. Cheap enough for every request."""
    from core.practice_settings import value

    return value(key)


#: Where the patient-portal plugin registers itself (``app.extensions``): an object with
#: ``name`` (the plugin's), ``client()`` (the signed-in Client or None), ``sign_in_url(next)``
#: and ``link(client_id, next)`` (a signed sign-in link).
PORTAL_EXTENSION = "backoffice.portal"


def _portal() -> Any:
    from flask import current_app

    provider = current_app.extensions.get(PORTAL_EXTENSION)
    if provider is None or not is_plugin_enabled(provider.name):
        return None
    return provider


def portal_client() -> Client | None:
    """The client signed in to the patient portal in this request, or ``None`` (also when
    no portal plugin is enabled). Looked up once per request."""
    from flask import g

    if "portal_client" not in g:
        provider = _portal()
        g.portal_client = provider.client() if provider is not None else None
    client: Client | None = g.portal_client
    return client


def portal_required(view: Any) -> Any:
    """Decorate a portal section's view: without a signed-in client the patient is sent to
    the portal's sign-in page (and back afterwards); 404 when no portal plugin is enabled.
    Put it under ``@public_route(reason)``."""
    import functools

    from flask import abort, redirect, request

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if portal_client() is None:
            provider = _portal()
            if provider is None:
                abort(404)
            back = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(provider.sign_in_url(back), 303)
        return view(*args, **kwargs)

    return guarded


def portal_link(client_id: int, next_path: str | None = None) -> str | None:
    """A signed, expiring link that signs the client in to the patient portal (then opens
    ``next_path``, a ``/portal/...`` path), for any message the practice sends them;
    ``None`` when no portal plugin is enabled."""
    provider = _portal()
    return None if provider is None else str(provider.link(client_id, next_path))


def portal_sections() -> list[PortalSection]:
    """Every enabled plugin's patient-portal sections (``backoffice_portal_sections``), in
    their order."""
    from core.plugins import plugin_manager

    found: list[PortalSection] = []
    for _name, sections in plugin_manager().call_each("backoffice_portal_sections"):
        found += [s for s in sections or () if isinstance(s, PortalSection)]
    return sorted(found, key=lambda s: (s.order, s.title))


def portal_activity(client_id: int) -> list[PortalActivity]:
    """What the client did in the portal, as every enabled plugin reports it
    (``backoffice_portal_activity``), newest first."""
    from core.plugins import plugin_manager

    found: list[PortalActivity] = []
    for name, items in plugin_manager().call_each(
        "backoffice_portal_activity", client_id=client_id
    ):
        found += [
            item if item.source else PortalActivity(item.at, item.kind, item.summary, name)
            for item in items or ()
            if isinstance(item, PortalActivity)
        ]
    return sorted(found, key=lambda item: item.at, reverse=True)


def hook_results(
    hook_name: str, *, include_disabled: bool = False, **kwargs: Any
) -> list[tuple[str, Any]]:
    """``(plugin, answer)`` from each enabled plugin implementing the hook ``hook_name``
    (called with ``kwargs``; one that raises is logged and left out): how a plugin gathers
    what others contribute, e.g. reporting's ``backoffice_reports``. ``include_disabled``
    asks every plugin that loaded, switched on or not (e.g. to index what they ship)."""
    from core.plugins import plugin_manager

    manager = plugin_manager()
    if not include_disabled:
        return [(n, answer) for n, answer in manager.call_each(hook_name, **kwargs) if answer]
    found: list[tuple[str, Any]] = []
    for record in manager.loaded():
        try:
            answer = manager.call_one(record.name, hook_name, **kwargs)
        except Exception:
            logging.getLogger(__name__).exception("plugin %s failed in %s", record.name, hook_name)
            continue
        if answer:
            found.append((record.name, answer))
    return found


def plugin_of_endpoint(endpoint: str | None) -> str | None:
    """The plugin whose blueprint serves a Flask endpoint (``"blueprint.view"``), or
    ``None`` for the host's own pages and Flask-AppBuilder views."""
    from core.plugins import plugin_manager

    blueprint = (endpoint or "").split(".", 1)[0] or None
    return plugin_manager().owner_of_blueprint(blueprint)


def join_code(code: str) -> JoinCodeMatch | None:
    """What an external join code opens (``state``: ``active``, ``grace`` or ``retired``),
    or ``None`` for a code that never existed. One query."""
    from core.join_codes import lookup

    return lookup(code)


def practice_join_code() -> str:
    """The practice's current external join code (the ``/wait/<code>`` link)."""
    from core.join_codes import practice_code

    return practice_code()


def provider_join_code(provider_id: int, *, create: bool = True) -> str | None:
    """One provider's current join code, made (by the caller's commit) on first use."""
    from core.join_codes import provider_code

    return provider_code(provider_id, create=create)


def join_code_url(code: str) -> str:
    """The full address of an external join link (``JOIN_CODE_ENDPOINT``, the waiting room's)."""
    from core.join_codes import url_of

    return url_of(code)
