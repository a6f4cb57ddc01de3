"""Help Center: the feature tour, the Knowledge Base and video tutorials."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.api import (
    Assets,
    HelpArticle,
    MenuLink,
    MenuView,
    PluginInfo,
    Setting,
    TourStep,
    hookimpl,
)

if TYPE_CHECKING:
    from flask import Flask

NAME = "help_center"
HELP = Path(__file__).parent / "help"
EVERYONE = ("Clinician", "Staff", "Practice Admin", "Security Admin")


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Help Center",
        version="1.0.0",
        description="Feature tour, Knowledge Base and video tutorials.",
        menu_section="Help Center",
        menu_icon="fa-life-ring",
        menu_order=55,
    )


@hookimpl
def backoffice_config_defaults() -> dict[str, object]:
    return {"HELP_TOUR_OFFER": True, "HELP_VIDEO_MAX_MB": 200}


@hookimpl
def backoffice_settings() -> list[Setting]:
    return [
        Setting(
            "HELP_TOUR_OFFER",
            "Offer the feature tour on a user's first login",
            type="bool",
            help="Each user is offered it once; anyone can start it from Help Center.",
            section="Help Center",
        ),
        Setting(
            "HELP_VIDEO_MAX_MB",
            "Largest video tutorial file a practice admin may upload (MB)",
            type="int",
            minimum=1,
            help="A larger upload is refused before it is read.",
            section="Help Center",
        ),
    ]


@hookimpl
def backoffice_load_models() -> None:
    from plugins.help_center import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from plugins.help_center.views import HelpCenterView, PracticeArticleView, VideoTutorialView

    return [
        MenuView(HelpCenterView, "Knowledge Base", icon="fa-book"),
        MenuView(VideoTutorialView, "Video Tutorials", icon="fa-film"),
        MenuView(PracticeArticleView, "Practice Articles", icon="fa-pencil"),
    ]


@hookimpl
def backoffice_assets() -> Assets:
    return Assets(
        js=("help_center/vendor/driver.js-1.8.0/driver.js.iife.js", "help_center/tour.js"),
        css=("help_center/vendor/driver.js-1.8.0/driver.css", "help_center/help.css"),
    )


@hookimpl
def backoffice_help_articles() -> list[HelpArticle]:
    """The host's own articles (logging in, users, roles, plugins) and the Help Center's."""
    return HelpArticle.from_folder(HELP)


@hookimpl
def backoffice_tour_steps() -> list[TourStep]:
    return [
        TourStep(
            "#bo-nav",
            "Navigation",
            "Every part of the back office is in this menu: the Back Office home, the live "
            "waiting room, your calendar, Help Center, Tools and Settings.",
            page="/",
            order=0,
        ),
        TourStep(
            "#bo-help",
            "Help on every page",
            "The ? opens the Knowledge Base article for the page you are on.",
            page="/",
            order=1,
        ),
        TourStep(
            "#help-tour-start",
            "Take the tour again",
            "You can restart this tour at any time from Help Center → Knowledge Base.",
            page="/help/",
            order=1000,
        ),
    ]


@hookimpl
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    read = [
        ("can_read", "HelpCenter"),
        ("can_list", "VideoTutorial"),
        ("can_show", "VideoTutorial"),
        ("can_download", "VideoTutorial"),
        ("menu_access", "Help Center"),
        ("menu_access", "Knowledge Base"),
        ("menu_access", "Video Tutorials"),
        ("menu_access", "Feature Tour"),
    ]
    grants = {role: list(read) for role in EVERYONE}
    grants["Practice Admin"] += [
        *((f"can_{p}", "VideoTutorial") for p in ("add", "edit", "delete")),
        *((f"can_{p}", "PracticeArticle") for p in ("list", "show", "add", "edit", "delete")),
        ("menu_access", "Practice Articles"),
    ]
    return grants


@hookimpl
def backoffice_startup(app: Flask) -> None:
    from plugins.help_center.views import cap_video_uploads, context_help_url

    app.context_processor(context_help_url)
    # URL preprocessors run before every before-request guard, so the cap is in place
    # before the host's input checks and CSRF read (and so parse) the form.
    app.url_value_preprocessor(cap_video_uploads)


@hookimpl
def backoffice_menu_links() -> list[MenuLink]:
    return [MenuLink("Feature Tour", "/help/tour", icon="fa-map-signs")]
