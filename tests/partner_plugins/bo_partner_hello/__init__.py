"""A partner plugin that works: a page, a Socket.IO event and a domain-event listener."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask_appbuilder import BaseView, expose, has_access
from marshmallow import Schema, fields

from core.api import (
    DomainEvent,
    EventSpec,
    HelpArticle,
    MenuView,
    PluginInfo,
    ReportColumn,
    ReportFilters,
    ReportSpec,
    Setting,
    SocketContext,
    SocketEvent,
    TourStep,
    hookimpl,
)

RECEIVED: list[DomainEvent] = []


class HelloView(BaseView):
    route_base = "/partner-hello"
    default_view = "show"

    @expose("/")
    @has_access
    def show(self) -> Any:
        return self.render_template("partner_hello/hello.html")


class EchoSchema(Schema):
    text = fields.String(required=True)


class GreetedSchema(Schema):
    id = fields.Integer(strict=True, required=True)


def echo(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return {"echo": payload["text"], "user": context.username}


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Partner Hello", version="0.1.0", menu_section="Partner", requires=("tools",)
    )


@hookimpl
def backoffice_views() -> list[MenuView]:
    return [MenuView(HelloView, "Hello", icon="fa-smile-o")]


@hookimpl
def backoffice_socket_events() -> list[SocketEvent]:
    return [SocketEvent("partner_hello.echo", echo, EchoSchema)]


@hookimpl
def backoffice_domain_event(event: DomainEvent) -> None:
    RECEIVED.append(event)


@hookimpl
def backoffice_help_articles() -> list[HelpArticle]:
    return HelpArticle.from_folder(Path(__file__).parent / "help")


@hookimpl
def backoffice_tour_steps() -> list[TourStep]:
    return [
        TourStep(
            "#partner-hello",
            "Partner Hello",
            "A partner's page joins the tour.",
            "/partner-hello/",
            order=80,
        )
    ]


COLUMN_CALLS: list[list[int]] = []


def _figure(filters: ReportFilters) -> list[dict[str, Any]]:
    days = (filters.date_to - filters.date_from).days + 1
    return [{"label": "Days asked", "days": days, "provider": filters.provider_id or 0}]


def _flags(visits: list[dict[str, Any]]) -> dict[int, Any]:
    COLUMN_CALLS.append([v["id"] for v in visits])
    return {v["id"]: f"entry {v['entry_id']}" for v in visits}


@hookimpl
def backoffice_reports() -> list[ReportSpec]:
    return [
        ReportSpec(
            name="partner_hello",
            title="Partner figure",
            columns=(("label", "What"), ("days", "Days"), ("provider", "Provider")),
            rows=_figure,
            label="label",
            value="days",
            drill=lambda _row: {"outcome": "attended"},
            order=900,
        )
    ]


@hookimpl
def backoffice_report_columns() -> list[ReportColumn]:
    return [ReportColumn("partner_flag", "Partner flag", _flags)]


@hookimpl
def backoffice_settings() -> list[Setting]:
    """A partner's setting: it gets a field in Settings with no code in the host."""
    return [
        Setting("PARTNER_HELLO_GREETING", "Greeting", default="Hello", help="Said on the page.")
    ]


@hookimpl
def backoffice_declared_events() -> list[EventSpec]:
    return [EventSpec("partner_hello.greeted", "Someone said hello.", GreetedSchema)]
