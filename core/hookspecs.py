"""The plugin contract: every hook a plugin may implement.

A plugin implements only the hooks it needs. Hooks that describe the plugin are called
for that plugin alone at boot; :func:`backoffice_record_event` and
:func:`backoffice_domain_event` are called on every enabled plugin whenever something
happens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Iterable

    import click
    from flask import Blueprint, Flask

    from core.types import (
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
        ReportSpec,
        Setting,
        SocketContext,
        SocketEvent,
        TopbarItem,
        TourStep,
    )

PROJECT_NAME = "backoffice"
ENTRY_POINT_GROUP = "backoffice.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def backoffice_plugin_info() -> PluginInfo:
    """Title, version, menu section, required plugins and targeted plugin-API version."""


@hookspec
def backoffice_config_defaults() -> dict[str, Any]:
    """Config keys and their defaults; ``BACKOFFICE_<KEY>`` still overrides them."""


@hookspec
def backoffice_load_models() -> None:
    """Import the plugin's models so they join the shared metadata."""


@hookspec
def backoffice_migrations_dir() -> str:
    """Path of the plugin's Alembic versions folder (its branch is labelled with its name)."""


@hookspec
def backoffice_views() -> list[MenuView]:
    """Flask-AppBuilder views, each with its menu entry under the plugin's section."""


@hookspec
def backoffice_apis() -> list[Any]:
    """Flask-AppBuilder ``BaseApi``/``ModelRestApi`` classes (token auth only, never cookies)."""


@hookspec
def backoffice_blueprints() -> list[Blueprint]:
    """Plain Flask blueprints, e.g. pages for patients who have no account."""


@hookspec
def backoffice_menu_links() -> list[MenuLink]:
    """Extra links in the plugin's menu section."""


@hookspec
def backoffice_dashboard_widgets() -> list[DashboardWidget]:
    """Panels for the Back Office home page."""


@hookspec
def backoffice_assets() -> Assets:
    """JavaScript and CSS from the plugin's ``static/`` folder to add to every staff page."""


@hookspec
def backoffice_socket_events() -> list[SocketEvent]:
    """Socket.IO events the plugin handles, each with its payload schema."""


@hookspec
def backoffice_socket_connected(context: SocketContext) -> None:
    """A staff or patient socket was accepted: a page opened, or came back after a drop."""


@hookspec
def backoffice_socket_disconnected(context: SocketContext, reason: str) -> None:
    """A socket went away; ``reason`` is ``client`` (the page hung up), ``server`` (the host
    ended it) or ``lost`` (closed tab, dropped network or timeout). A page that comes back
    connects anew, possibly before this is called for its old socket."""


@hookspec
def backoffice_group_rules() -> list[GroupRule]:
    """Group rules (named switches per role) the plugin defines."""


@hookspec
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    """Default ``(permission, view_menu)`` grants per role name, applied when roles are synced."""


@hookspec
def backoffice_domain_event(event: DomainEvent) -> None:
    """React to something that happened (patient arrived, consent recorded, ...), after the
    emitter's commit: a reaction that writes is a unit of work of its own."""


@hookspec
def backoffice_record_event(event: DomainEvent) -> None:
    """Write what the plugin keeps of an event into the emitter's transaction, never
    committing: it is saved by the emitter's one commit, or not at all. Runs in a savepoint,
    so one that raises loses only its own rows; return early for events you do not keep."""


@hookspec
def backoffice_declared_events() -> list[EventSpec]:
    """The domain events the plugin emits, with their payload schemas (the event catalogue)."""


@hookspec
def backoffice_settings() -> list[Setting]:
    """Practice settings the plugin declares; each gets a field in Settings."""


@hookspec
def backoffice_topbar_items() -> list[TopbarItem]:
    """Buttons (templates) the plugin adds to the top bar of every staff page."""


@hookspec
def backoffice_portal_sections() -> list[PortalSection]:
    """Sections the plugin adds to the patient portal."""


@hookspec
def backoffice_help_articles() -> list[HelpArticle]:
    """Knowledge Base articles (Markdown) for the Help Center, e.g. ``HelpArticle.from_folder``."""


@hookspec
def backoffice_tour_steps() -> list[TourStep]:
    """Stops of the feature tour on the plugin's pages, ordered by ``order`` across plugins."""


@hookspec
def backoffice_portal_activity(client_id: int) -> list[PortalActivity]:
    """What the client did in the patient portal through this plugin (newest first), for
    the staff's portal activity page."""


@hookspec
def backoffice_seed_demo(password: str) -> None:
    """Add the plugin's share of the demo practice (called by ``make run`` on an empty database)."""


@hookspec
def backoffice_cli_commands() -> list[click.Command]:
    """Click commands added under ``backoffice``."""


@hookspec
def backoffice_startup(app: Flask) -> None:
    """Called once the host and every plugin are registered, inside an app context."""


@hookspec
def backoffice_housekeeping(app: Flask) -> None:
    """Called about once a second by each server worker's background task, in an app
    context and outside any request: periodic upkeep (writing batched presence, sweeps).
    Commit your own work in short transactions; the worker's other handlers wait while it
    runs without yielding. Not called by test clients or the CLI."""


@hookspec
def backoffice_history_events() -> Iterable[DomainEvent]:
    """The domain events that would have told what the plugin already holds, oldest first,
    each payload with ``at`` (ISO, UTC): how a listener added later (reporting's backfill)
    catches up without reading the plugin's tables."""


@hookspec
def backoffice_reports() -> list[ReportSpec]:
    """Whole reports the plugin adds to Reporting."""


@hookspec
def backoffice_report_columns() -> list[ReportColumn]:
    """Columns the plugin adds to Reporting's visit tables (drill-downs and their CSV)."""
