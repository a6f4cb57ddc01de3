"""A partner plugin whose required plugin is not installed."""

from __future__ import annotations

from core.api import PluginInfo, hookimpl


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(title="Orphan", version="0.0.1", requires=("no_such_plugin",))
