"""Waiting Room: Live virtual waiting room: patients wait, staff admit, message and transfer.

Domain events this plugin emits (payloads hold ids, never names; see ``room.domain_payload``
for the common keys ``entry_id``, ``status``, ``invite_id``, ``invite_kind``, ``client_id``,
``provider_id``, ``arrived_at``, ``admitted_at``, ``ended_at``, ``waited_seconds``,
``copay_status``, ``copay_cents``):

- ``patient.arrived``: a patient checked in.
- ``patient.admitted``: staff admitted the patient (``admitted_by``, ``session_url``).
- ``patient.transferred``: ``from_provider_id``, ``to_provider_id``, ``transferred_by``.
- ``patient.sent_back``: staff sent an admitted patient back to waiting (``by``).
- ``patient.left``: the patient left (``reason``: ``patient_left`` or ``grace_expired``).
- ``patient.removed``: staff ended the visit (``reason``: ``removed`` or ``no_show``; ``by``).
- ``patient.message_sent``: a chat message (``sender``: ``staff`` or ``patient``).
- ``patient.copay_updated``: copay status or amount changed (``by``).
- ``patient.waiting_long``: a long-wait alert (``level``: ``provider`` or ``practice``).

It listens to ``consent.recorded`` / ``consent.declined`` (``client_id``), to
``session.ended`` (``waiting_entry_id``: the visit is complete) and to ``session.sent_back``
(``entry_id``, ``by``: the clinician sent the patient back from the call).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask

from core.api import (
    Assets,
    DashboardWidget,
    DomainEvent,
    EventSpec,
    MenuView,
    PluginInfo,
    Setting,
    SocketContext,
    SocketEvent,
    hookimpl,
)

NAME = "waiting_room"
ROLES_WITH_ACCESS = ("Clinician", "Staff", "Practice Admin")


@hookimpl
def backoffice_plugin_info() -> PluginInfo:
    return PluginInfo(
        title="Waiting Room",
        version="0.1.0",
        description="Live virtual waiting room: patients wait, staff admit, message and transfer.",
        menu_section="Waiting Room",
        menu_icon="fa-users",
        menu_order=10,
        api_version=1,
    )


@hookimpl
def backoffice_config_defaults() -> dict[str, Any]:
    from plugins.waiting_room.room import CONFIG_DEFAULTS

    return dict(CONFIG_DEFAULTS)


@hookimpl
def backoffice_load_models() -> None:
    from plugins.waiting_room import models  # noqa: F401


@hookimpl
def backoffice_views() -> list[MenuView]:
    from plugins.waiting_room.views import WaitingRoomView

    return [MenuView(WaitingRoomView, "Live Waiting Room", icon="fa-users")]


@hookimpl
def backoffice_blueprints() -> list[Blueprint]:
    from plugins.waiting_room.views import patient_blueprint

    return [patient_blueprint()]


@hookimpl
def backoffice_socket_events() -> list[SocketEvent]:
    from plugins.waiting_room.events import EVENTS

    return EVENTS


@hookimpl
def backoffice_socket_connected(context: SocketContext) -> None:
    from plugins.waiting_room import room

    entry_id = room.entry_id_of(context.patient)
    if entry_id is not None:
        room.socket_opened(entry_id, context.sid)


@hookimpl
def backoffice_socket_disconnected(context: SocketContext) -> None:
    from plugins.waiting_room import room

    entry_id = room.entry_id_of(context.patient)
    if entry_id is not None:
        room.socket_closed(entry_id, context.sid)


@hookimpl
def backoffice_dashboard_widgets() -> list[DashboardWidget]:
    return [DashboardWidget("Waiting room", "waiting_room/widget.html", order=10)]


@hookimpl
def backoffice_assets() -> Assets:
    return Assets(js=("waiting_room/notify.js",), css=("waiting_room/waiting_room.css",))


@hookimpl
def backoffice_role_grants() -> dict[str, list[tuple[str, str]]]:
    grants = [
        ("can_show", "WaitingRoom"),
        ("can_manage", "WaitingRoom"),
        ("menu_access", "Waiting Room"),
        ("menu_access", "Live Waiting Room"),
    ]
    return {role: list(grants) for role in ROLES_WITH_ACCESS}


@hookimpl
def backoffice_domain_event(event: DomainEvent) -> None:
    from plugins.waiting_room import room

    if event.name in room.CONSENT_EVENTS:
        room.on_consent(event.name, event.payload)
    elif event.name == "session.ended":
        room.on_session_ended(event.payload)
    elif event.name == "session.sent_back":
        room.on_session_sent_back(event.payload)


@hookimpl
def backoffice_seed_demo(password: str) -> None:
    from plugins.waiting_room.demo import seed

    seed()


@hookimpl
def backoffice_housekeeping(app: Flask) -> None:
    from plugins.waiting_room.presence import flush_in_chunks

    flush_in_chunks()


@hookimpl
def backoffice_startup(app: Flask) -> None:
    from flask_login import current_user

    from plugins.waiting_room.room import widget_summary

    def summary() -> dict[str, Any]:
        user_id = getattr(current_user, "id", None) if current_user else None
        return widget_summary(user_id)

    app.add_template_global(summary, "waiting_room_summary")


@hookimpl
def backoffice_help_articles() -> list[object]:
    from pathlib import Path

    from core.api import HelpArticle

    return list(HelpArticle.from_folder(Path(__file__).parent / "help"))


@hookimpl
def backoffice_tour_steps() -> list[object]:
    from core.api import TourStep

    page = "/waiting-room/"
    return [
        TourStep(
            "#wr-table",
            "The live waiting room",
            "Patients waiting to be seen appear here live, with how long they have waited, "
            "their provider, invite, copay, consent and device check.",
            page,
            order=10,
        ),
        TourStep(
            "#wr-rows .wr-actions",
            "Admit, message, transfer",
            "Admit a patient into the session, message them, or use More to transfer, record "
            "a copay, mark a no-show or remove them.",
            page,
            order=11,
        ),
        TourStep(
            "#wr-join-link",
            "Your practice's join link",
            "Put this link on your website or in reminders: patients join the waiting room "
            "with it.",
            page,
            order=12,
        ),
    ]


@hookimpl
def backoffice_declared_events() -> list[EventSpec]:
    from plugins.waiting_room import schemas as s

    return [
        EventSpec(
            "patient.arrived", "A patient checked in to the waiting room.", s.EntryEventSchema
        ),
        EventSpec("patient.admitted", "Staff admitted the patient.", s.AdmittedEventSchema),
        EventSpec(
            "patient.sent_back", "An admitted patient was sent back to wait.", s.ByEventSchema
        ),
        EventSpec(
            "patient.transferred",
            "The patient moved to another provider.",
            s.TransferredEventSchema,
        ),
        EventSpec("patient.left", "The patient left before the visit ended.", s.LeftEventSchema),
        EventSpec(
            "patient.removed", "Staff ended the visit: removed or no-show.", s.RemovedEventSchema
        ),
        EventSpec(
            "patient.copay_updated",
            "The copay was marked (status, amount, method).",
            s.CopayEventSchema,
        ),
        EventSpec("patient.message_sent", "A waiting-room chat message.", s.MessageEventSchema),
        EventSpec("patient.waiting_long", "A long-wait alert went out.", s.WaitingLongEventSchema),
        EventSpec("patient.completed", "The admitted patient's session ended.", s.EntryEventSchema),
    ]


@hookimpl
def backoffice_history_events() -> Iterable[DomainEvent]:
    from plugins.waiting_room.history import history_events

    return history_events()


@hookimpl
def backoffice_settings() -> list[Setting]:
    room = "Waiting room"
    return [
        Setting(
            "WAITING_ROOM_PERSON_WORD",
            "What staff alerts call the people waiting",
            type="choice",
            choices=("patient", "client"),
            help='e.g. "3 clients have waited over 10 minutes"',
            section=room,
        ),
        Setting(
            "WAITING_ROOM_MESSAGE",
            "Waiting-room text",
            "text",
            help="What patients read while they wait.",
            section=room,
        ),
        Setting(
            "WAITING_ROOM_ALERT_PROVIDER_AFTER",
            "Long wait: alert the provider after (seconds)",
            "int",
            minimum=30,
            section=room,
        ),
        Setting(
            "WAITING_ROOM_ALERT_PRACTICE_AFTER",
            "Long wait: alert the whole practice after (seconds)",
            "int",
            minimum=30,
            section=room,
        ),
        Setting(
            "WAITING_ROOM_ASK_DOB",
            "Ask patients for their date of birth",
            "bool",
            section=room,
        ),
        Setting(
            "WAITING_ROOM_EXTERNAL_CHOOSE_PROVIDER",
            "Patients on the practice link may pick a clinician",
            "bool",
            section=room,
        ),
        Setting(
            "WAITING_ROOM_DEFAULT_COPAY_CENTS",
            "Default copay (cents)",
            "int",
            minimum=0,
            section=room,
        ),
        Setting(
            "WAITING_ROOM_LEAVE_GRACE",
            "Keep an away patient's place for (seconds)",
            "int",
            minimum=10,
            section=room,
        ),
    ]
