"""A partner plugin that imports fine and raises while registering."""

from __future__ import annotations

from core.api import MenuView, PluginInfo, hookimpl


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(title="Bad Registration", version="0.0.1", menu_section="Bad")


@hookimpl
def backoffice_views() -> list[MenuView]:
    raise ValueError("partner_badreg cannot build its views")
