"""The host's own pages: the Back Office home and the Plugins admin page."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, IndexView, expose, has_access
from flask_login import current_user

from core.plugins import PluginSwitchError


class BackOfficeIndexView(IndexView):
    """The Back Office home: plugins' dashboard widgets."""

    index_template = "backoffice/index.html"

    @expose("/")
    def index(self) -> Any:
        if not current_user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_login)
        from core.app import dashboard_widgets

        return self.render_template(self.index_template, widgets=dashboard_widgets())


class SwitchboardView(BaseView):
    """An admin page that lists things (``can_read``) and switches them (``can_write``)."""

    default_view = "list"
    method_permission_name = {"list": "read", "switch": "write"}
    base_permissions = ["can_read", "can_write"]


class PluginsView(SwitchboardView):
    """Installed plugins, their state and errors, with runtime enable/disable."""

    route_base = "/admin/plugins"
    class_permission_name = "PluginAdmin"

    @expose("/")
    @has_access
    def list(self) -> Any:
        from core.plugins import plugin_manager

        plugins = plugin_manager()
        rows = [
            {"record": record, "state": plugins.state_of(record.name)}
            for record in plugins.all_records()
        ]
        return self.render_template("backoffice/plugins.html", rows=rows)

    @expose("/<name>/switch", methods=["POST"])
    @has_access
    def switch(self, name: str) -> Any:
        from core.app import set_plugin_enabled

        enable = request.form.get("enabled") == "1"
        try:
            set_plugin_enabled(name, enable)
        except PluginSwitchError as exc:
            flash(str(exc), "danger")
            return redirect(url_for("PluginsView.list")), 409
        flash(f"Plugin {name} {'enabled' if enable else 'disabled'}.", "success")
        return redirect(url_for("PluginsView.list"))


class EventCatalogueView(BaseView):
    """The domain-event catalogue: every event the installed plugins declare they emit."""

    route_base = "/admin/events"
    class_permission_name = "EventCatalogue"
    default_view = "list"
    method_permission_name = {"list": "read"}
    base_permissions = ["can_read"]

    @expose("/")
    @has_access
    def list(self) -> Any:
        from core.events import payload_fields
        from core.plugins import plugin_manager

        plugins = plugin_manager()
        catalogue = plugins.catalogue or {}
        rows = [
            {
                "entry": catalogue[name],
                "fields": payload_fields(catalogue[name].spec.schema),
                "state": (
                    plugins.state_of(catalogue[name].plugin)
                    if catalogue[name].plugin in plugins.records
                    else "enabled"  # the host's own events
                ),
            }
            for name in sorted(catalogue)
        ]
        return self.render_template("backoffice/events.html", rows=rows)


def register_core_views(appbuilder: AppBuilder) -> None:
    from core.openapi import OpenApiView

    appbuilder.add_view_no_menu(OpenApiView)
    appbuilder.add_view(
        PluginsView, "Plugins", icon="fa-puzzle-piece", category="Admin", category_icon="fa-cogs"
    )
    appbuilder.add_view(
        EventCatalogueView,
        "Domain Events",
        icon="fa-bolt",
        category="Admin",
        category_icon="fa-cogs",
    )
