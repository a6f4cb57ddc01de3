"""Socket.IO events of the waiting room, on ``/staff`` (permission-checked) and ``/patient``.

Staff pages call ``waiting_room.snapshot`` on every (re)connect, then apply
``waiting_room.update`` notifications in version order (a gap means a lost notification:
fetch the snapshot again); those reach only staff holding the waiting room's permission.
Patient pages call ``waiting_room.status`` on every (re)connect and as their heartbeat;
every ``waiting_room.status`` push they get is a whole view, newest version wins.
"""

from __future__ import annotations

from typing import Any

from core.api import SocketContext, SocketError, SocketEvent, db_session, within_rate_limit
from plugins.waiting_room import room, schemas
from plugins.waiting_room.models import WaitingEntry

CAN_VIEW = room.CAN_VIEW
CAN_MANAGE = room.CAN_MANAGE


def _user(context: SocketContext) -> int:
    if context.user_id is None:
        raise SocketError("unauthorized", "sign in again")
    return context.user_id


def _summary(entry: WaitingEntry) -> dict[str, Any]:
    return room.staff_summaries([entry])[0]


# --- staff ---------------------------------------------------------------------------


def subscribe(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    """Any staff page: listen for arrivals and alerts (sound, notification, widget)."""
    user_id = _user(context)
    room.staff_seen(user_id)
    return {**room.me(user_id), "version": room.current_version()}


def snapshot(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    user_id = _user(context)
    room.staff_seen(user_id)
    return room.snapshot(user_id, payload["scope"])


def heartbeat(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    user_id = _user(context)
    room.staff_seen(user_id)
    room.sweep()
    return {"version": room.current_version(), "server_time": room.iso(room.utcnow())}


def _act(context: SocketContext) -> room.Actor:
    actor = room.actor_of(_user(context))
    room.sweep()  # a patient whose grace ran out is gone before anyone acts on them
    return actor


def admit(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return _summary(room.admit(payload["entry_id"], _act(context)))


def send_back(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return _summary(room.send_back(payload["entry_id"], _act(context)))


def transfer(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    entry = room.transfer(
        payload["entry_id"], payload["to_provider_id"], _act(context), payload["note"]
    )
    return _summary(entry)


def remove(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return _summary(room.remove(payload["entry_id"], _act(context), payload["reason"]))


def no_show(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return _summary(room.no_show(payload["entry_id"], _act(context)))


def message(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return _summary(room.staff_message(payload["entry_id"], payload["body"], _act(context)))


def mark_copay(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    entry = room.mark_copay(
        payload["entry_id"],
        payload["status"],
        payload["amount_cents"],
        _act(context),
        method=payload["method"],
    )
    return _summary(entry)


def mute(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return room.set_muted(_user(context), payload["muted"])


def availability(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return room.set_availability(_user(context), payload["availability"], payload["note"])


# --- patient -------------------------------------------------------------------------


def patient_entry(context: SocketContext) -> WaitingEntry:
    """The entry named by the patient's signed token; never an id from the payload."""
    entry_id = room.entry_id_of(context.patient)
    if entry_id is None:
        raise SocketError("no_entry", "this page is not checked in to the waiting room")
    entry: WaitingEntry | None = db_session().get(WaitingEntry, entry_id)
    if entry is None:
        raise SocketError("no_entry", "this check-in no longer exists; please check in again")
    return entry


def _view(
    entry: WaitingEntry, known: int | None = None, *, version: int | None = None
) -> dict[str, Any]:
    """``version``: the waiting room's version when the caller just made it (else read)."""
    unchanged = known is not None and known == entry.version
    current = room.current_version() if version is None else version
    return room.patient_views([entry], current, unchanged=unchanged)[entry.id]


def status(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    return _view(room.patient_seen(patient_entry(context), context.sid), payload["known"])


def patient_message(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    entry = patient_entry(context)
    limit = str(room.config("WAITING_ROOM_PATIENT_MESSAGE_RATE_LIMIT"))
    if not within_rate_limit(limit, "waiting_room.message", str(entry.id)):
        raise SocketError("rate_limited", "You are sending messages too fast; wait a moment.")
    entry = room.patient_seen(entry, context.sid)
    return _view(room.patient_message(entry, payload["body"]))


def device_check(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    entry = room.record_device_check(
        room.patient_seen(patient_entry(context), context.sid), payload
    )
    return _view(entry, version=entry.version)


def leave(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    entry = patient_entry(context)
    if not entry.is_live:
        return _view(entry)
    return _view(room.patient_leave(entry))


EVENTS = [
    SocketEvent("waiting_room.subscribe", subscribe, schemas.SubscribeSchema, permission=CAN_VIEW),
    SocketEvent("waiting_room.snapshot", snapshot, schemas.SnapshotSchema, permission=CAN_VIEW),
    SocketEvent("waiting_room.heartbeat", heartbeat, schemas.HeartbeatSchema, permission=CAN_VIEW),
    SocketEvent("waiting_room.mute", mute, schemas.MuteSchema, permission=CAN_VIEW),
    SocketEvent(
        "waiting_room.availability",
        availability,
        schemas.AvailabilitySchema,
        permission=CAN_VIEW,
    ),
    SocketEvent("waiting_room.admit", admit, schemas.EntrySchema, permission=CAN_MANAGE),
    SocketEvent("waiting_room.message", message, schemas.StaffMessageSchema, permission=CAN_MANAGE),
    SocketEvent("waiting_room.transfer", transfer, schemas.TransferSchema, permission=CAN_MANAGE),
    SocketEvent("waiting_room.send_back", send_back, schemas.EntrySchema, permission=CAN_MANAGE),
    SocketEvent("waiting_room.remove", remove, schemas.RemoveSchema, permission=CAN_MANAGE),
    SocketEvent("waiting_room.no_show", no_show, schemas.EntrySchema, permission=CAN_MANAGE),
    SocketEvent("waiting_room.mark_copay", mark_copay, schemas.CopaySchema, permission=CAN_MANAGE),
    SocketEvent("waiting_room.status", status, schemas.StatusSchema, namespace="patient"),
    SocketEvent(
        "waiting_room.message",
        patient_message,
        schemas.PatientMessageSchema,
        namespace="patient",
    ),
    SocketEvent(
        "waiting_room.device_check",
        device_check,
        schemas.DeviceCheckSchema,
        namespace="patient",
    ),
    SocketEvent("waiting_room.leave", leave, schemas.LeaveSchema, namespace="patient"),
]
