"""Video: the telehealth session itself, WebRTC between clinician and patients.

Media flows browser to browser (WebRTC); the host only relays the signalling (offers,
answers, ICE candidates) over Socket.IO, to each participant's personal room. The database
is the source of truth for who is in a session, its chat, and its start, end and duration.

Domain events this plugin emits (ids, never names):

- ``session.started``: the second participant joined (``session_id``, ``entry_id``,
  ``waiting_entry_id``, ``provider_id``, ``client_id``, ``started_at``).
- ``session.ended``: a clinician ended it (the same keys plus ``ended_at``,
  ``duration_seconds``, ``participants``, ``ended_by``).
- ``session.sent_back``: a clinician sent the patient back to the waiting room
  (``entry_id``, ``session_id``).

It listens to ``patient.admitted`` (creates or finds the session of the waiting-room entry)
and ``patient.sent_back`` (takes the patient out of the call).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
from flask import Blueprint, Flask

from core.api import (
    Assets,
    DomainEvent,
    EventSpec,
    MenuView,
    PluginInfo,
    Setting,
    SocketContext,
    SocketEvent,
    hookimpl,
)

NAME = "video"


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Video Sessions",
        version="0.1.0",
        description="WebRTC video sessions between clinician and patients, signalled by the host.",
        menu_section="Sessions",
        menu_icon="fa-video-camera",
        menu_order=15,
        api_version=1,
    )


@hookimpl
def backoffice_config_defaults() -> dict[str, Any]:
    from plugins.video.service import CONFIG_DEFAULTS

    return dict(CONFIG_DEFAULTS)


@hookimpl
def backoffice_load_models() -> None:
    from plugins.video import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from plugins.video.views import VideoCallView, VideoSessionView

    return [
        MenuView(VideoSessionView, "Video Sessions", icon="fa-video-camera"),
        MenuView(VideoCallView, "Start a Video Session", icon="fa-plus"),
    ]


@hookimpl
def backoffice_blueprints() -> list[Blueprint]:
    from plugins.video.views import patient_blueprint

    return [patient_blueprint()]


@hookimpl
def backoffice_socket_events() -> list[SocketEvent]:
    from plugins.video.events import EVENTS

    return EVENTS


@hookimpl
def backoffice_socket_disconnected(context: SocketContext) -> None:
    from plugins.video.service import socket_dropped

    socket_dropped(context.sid)


@hookimpl
def backoffice_assets() -> Assets:
    return Assets(js=("video/launcher.js",), css=("video/launcher.css",))


@hookimpl
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    from plugins.video.views import CALL, LIST

    menu = [("menu_access", "Sessions"), ("menu_access", "Video Sessions")]
    read = [("can_list", LIST), ("can_show", LIST), *menu]
    call = [
        ("can_join", CALL),
        ("can_start", CALL),
        ("menu_access", "Start a Video Session"),
    ]
    return {"Clinician": [*read, *call], "Practice Admin": read, "Staff": read}


@hookimpl
def backoffice_domain_event(event: DomainEvent) -> None:
    from plugins.video import service

    if event.name == "patient.admitted":
        service.on_patient_admitted(event.payload)
    elif event.name == "patient.sent_back":
        service.on_patient_sent_back(event.payload)


@hookimpl
def backoffice_cli_commands() -> list[click.Command]:
    from flask.cli import with_appcontext

    @click.command("video-end-stale")
    @click.option(
        "--after",
        default=3600,
        show_default=True,
        help="End sessions nobody has been in for this many seconds.",
    )
    @with_appcontext
    def end_stale(after: int) -> None:
        """End video sessions that everyone left without ending (for reporting)."""
        from plugins.video.service import end_stale_sessions

        ended = end_stale_sessions(after)
        click.echo(f"Ended {len(ended)} stale video session(s).")

    return [end_stale]


@hookimpl
def backoffice_settings() -> list[Setting]:
    from plugins.video.service import check_urls

    video = "Video (STUN/TURN)"
    return [
        Setting(
            "VIDEO_STUN_URLS",
            "STUN servers",
            "text",
            help="One per line, e.g. stun:stun.example.org:3478. Empty: calls connect on "
            "one network only unless a TURN server relays them.",
            section=video,
            check=check_urls,
        ),
        Setting(
            "VIDEO_TURN_URLS",
            "TURN servers",
            "text",
            help="One per line, e.g. turns:turn.example.org:5349. They relay calls through "
            "strict firewalls and mobile networks; give a shared secret or a user name "
            "and password below.",
            section=video,
            check=check_urls,
        ),
        Setting(
            "VIDEO_TURN_SECRET",
            "TURN shared secret (coturn use-auth-secret)",
            "secret",
            help="Preferred: each participant gets a password that expires.",
            section=video,
        ),
        Setting(
            "VIDEO_TURN_TTL",
            "TURN password lifetime (seconds)",
            "int",
            minimum=60,
            section=video,
        ),
        Setting("VIDEO_TURN_USERNAME", "TURN user name (without a shared secret)", section=video),
        Setting(
            "VIDEO_TURN_CREDENTIAL",
            "TURN password (without a shared secret)",
            "secret",
            section=video,
        ),
    ]


@hookimpl
def backoffice_startup(app: Flask) -> None:
    from plugins.video.service import ice_servers

    ice_servers()  # a malformed STUN/TURN setting fails the plugin at boot, visibly


@hookimpl
def backoffice_help_articles() -> list[object]:
    from pathlib import Path

    from core.api import HelpArticle

    return list(HelpArticle.from_folder(Path(__file__).parent / "help"))


def _open_session_page() -> str | None:
    """The signed-in user's newest session that has not ended, to show its controls."""
    from flask import url_for
    from flask_login import current_user
    from sqlalchemy import select

    from core.api import db_session
    from plugins.video.models import ENDED, VideoSession

    found = db_session().scalar(
        select(VideoSession.id)
        .where(VideoSession.provider_id == int(current_user.id), VideoSession.status != ENDED)
        .order_by(VideoSession.id.desc())
        .limit(1)
    )
    return url_for("VideoCallView.session", pk=found) if found else None


@hookimpl
def backoffice_tour_steps() -> list[object]:
    from core.api import TourStep

    return [
        TourStep(
            "#video-new-start",
            "Start a video session",
            "Start a session for a client outside the waiting room; your open sessions are "
            "listed beside it.",
            "/video/new",
            order=40,
        ),
        TourStep(
            ".video-controls",
            "Video controls",
            "Mute, turn the camera off, share your screen, choose devices, send the patient "
            "back to the waiting room or end the session.",
            _open_session_page,
            order=41,
        ),
    ]


@hookimpl
def backoffice_declared_events() -> list[EventSpec]:
    from plugins.video.schemas import SentBackEventSchema, SessionEventSchema

    return [
        EventSpec("session.started", "A video session began.", SessionEventSchema),
        EventSpec("session.ended", "A video session ended.", SessionEventSchema),
        EventSpec(
            "session.sent_back", "The clinician sent the patient back to wait.", SentBackEventSchema
        ),
    ]


@hookimpl
def backoffice_history_events() -> Iterable[DomainEvent]:
    from plugins.video.history import history_events

    return history_events()
