"""Tools: Speed Test and Webcam Check. The reference plugin: every hook shape in one place."""

from __future__ import annotations

from core.api import (
    Assets,
    DashboardWidget,
    MenuView,
    PluginInfo,
    SocketEvent,
    hookimpl,
)

NAME = "tools"


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Tools",
        version="1.0.0",
        description="Check the connection and the webcam before a session.",
        menu_section="Tools",
        menu_icon="fa-wrench",
        menu_order=60,
    )


@hookimpl
def backoffice_config_defaults() -> dict[str, object]:
    return {"TOOLS_DOWNLOAD_BYTES": 2_000_000, "TOOLS_UPLOAD_MAX_BYTES": 8_000_000}


@hookimpl
def backoffice_load_models() -> None:
    from plugins.tools import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from plugins.tools.views import SpeedTestResultView, SpeedTestView, WebcamCheckView

    return [
        MenuView(SpeedTestView, "Speed Test", icon="fa-tachometer"),
        MenuView(WebcamCheckView, "Webcam Check", icon="fa-video-camera"),
        MenuView(SpeedTestResultView, "Speed Test History", icon="fa-history"),
    ]


@hookimpl
def backoffice_socket_events() -> list[SocketEvent]:
    from plugins.tools.events import EVENTS

    return EVENTS


@hookimpl
def backoffice_dashboard_widgets() -> list[DashboardWidget]:
    return [DashboardWidget("Your connection", "tools/widget.html", order=90)]


@hookimpl
def backoffice_assets() -> Assets:
    return Assets(css=("tools/tools.css",))


@hookimpl
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    everyone = [
        ("can_show", "SpeedTest"),
        ("can_measure", "SpeedTest"),
        ("can_show", "WebcamCheck"),
        ("can_list", "SpeedTestResult"),
        ("menu_access", "Tools"),
        ("menu_access", "Speed Test"),
        ("menu_access", "Webcam Check"),
        ("menu_access", "Speed Test History"),
    ]
    return {role: everyone for role in ("Clinician", "Staff", "Practice Admin", "Security Admin")}


@hookimpl
def backoffice_help_articles() -> list[object]:
    from pathlib import Path

    from core.api import HelpArticle

    return list(HelpArticle.from_folder(Path(__file__).parent / "help"))


@hookimpl
def backoffice_tour_steps() -> list[object]:
    from core.api import TourStep

    return [
        TourStep(
            "#speedtest-start",
            "Check your connection",
            "Run a speed test before a session; Webcam Check tests your camera and microphone.",
            "/tools/speedtest/",
            order=70,
        )
    ]
