"""Staff Chat: Practice channel and direct messages between staff."""

from __future__ import annotations

from core.api import Assets, MenuView, PluginInfo, SocketEvent, hookimpl

NAME = "staff_chat"


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Staff Chat",
        version="0.1.0",
        description="Practice channel and direct messages between staff.",
        menu_section="Staff Chat",
        menu_icon="fa-comments",
        menu_order=20,
    )


@hookimpl
def backoffice_load_models() -> None:
    from plugins.staff_chat import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from plugins.staff_chat.views import StaffChatView

    return [MenuView(StaffChatView, "Messages", icon="fa-comment")]


@hookimpl
def backoffice_socket_events() -> list[SocketEvent]:
    from plugins.staff_chat.events import EVENTS

    return EVENTS


@hookimpl
def backoffice_assets() -> Assets:
    return Assets(js=("staff_chat/unread.js",), css=("staff_chat/staff_chat.css",))


@hookimpl
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    from plugins.staff_chat.views import PERMISSION

    chat = [PERMISSION, ("menu_access", "Staff Chat"), ("menu_access", "Messages")]
    return {role: chat for role in ("Clinician", "Staff", "Practice Admin", "Security Admin")}


@hookimpl
def backoffice_seed_demo(password: str) -> None:
    from plugins.staff_chat.chat import seed_demo

    seed_demo()


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
            "#staff-chat-channels",
            "Staff chat",
            "The practice channel and your direct conversations with colleagues.",
            "/chat/",
            order=60,
        ),
        TourStep(
            "#staff-chat-form",
            "Write to staff",
            "Type here and press Send; colleagues see it at once. Patients never see staff chat.",
            "/chat/",
            order=61,
        ),
    ]
