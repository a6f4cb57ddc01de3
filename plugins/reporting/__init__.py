"""Reporting: attendance, session duration, invite type, copay, waits and who left unseen.

One visit record per patient visit (``reporting_visit``), kept only from the domain events
other plugins emit (``service.RELIED_ON``: each declared by its emitter): reports never read
another plugin's tables. ``backoffice reporting backfill`` builds the records of visits
that happened before (or while this plugin was off) from ``backoffice_history_events``.

Reports are ``ReportSpec`` values; any plugin adds its own through ``backoffice_reports``
and columns of the visit tables through ``backoffice_report_columns``. Clinicians see
their own visits; ``can_view_all`` on *Reports* (Practice Admin) shows every provider's.
"""

from __future__ import annotations

import click

from core.api import (
    DomainEvent,
    MenuView,
    PluginInfo,
    ReportSpec,
    hookimpl,
)

NAME = "reporting"


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Reporting",
        version="1.0.0",
        description="Attendance, session duration, invite type, copay and waiting times.",
        menu_section="Reporting",
        menu_icon="fa-bar-chart",
        menu_order=20,
    )


@hookimpl
def backoffice_load_models() -> None:
    from plugins.reporting import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from plugins.reporting.views import ReportsView

    return [MenuView(ReportsView, "Reports", icon="fa-bar-chart")]


@hookimpl
def backoffice_reports() -> list[ReportSpec]:
    from plugins.reporting.reports import BUILT_IN

    return list(BUILT_IN)


@hookimpl
def backoffice_record_event(event: DomainEvent) -> None:
    from plugins.reporting.service import record

    record(event)


@hookimpl
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    own = [("can_show", "Reports"), ("menu_access", "Reporting"), ("menu_access", "Reports")]
    return {"Clinician": own, "Practice Admin": [*own, ("can_view_all", "Reports")]}


@hookimpl
def backoffice_cli_commands() -> list[click.Command]:
    from plugins.reporting.cli import reporting

    return [reporting]


@hookimpl
def backoffice_help_articles() -> list[object]:
    from pathlib import Path

    from core.api import HelpArticle

    return list(HelpArticle.from_folder(Path(__file__).parent / "help"))
