"""The waiting room's rules: arrival, the staff actions, presence, the grace period, alerts.

Every change is one database transaction that also bumps the waiting room's version; after
it commits, the change is audited, announced to other plugins as a domain event, and
pushed to staff dashboards (a versioned update) and to the patients concerned (their whole
view). Socket.IO only notifies: pages fetch a snapshot whenever they (re)connect.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from core.api import (
    Client,
    PatientInvite,
    SocketError,
    StaffMember,
    audit,
    commit,
    db_session,
    emit_on_commit,
    new_patient_token,
    notify,
    practice_join_code,
    setting,
    staff_members,
    verify_patient_token,
)
from plugins.waiting_room import presence
from plugins.waiting_room.models import (
    ADMITTED,
    COMPLETED,
    LEFT,
    LIVE_STATUSES,
    NO_SHOW,
    REMOVED,
    WAITING,
    ClientConsent,
    StaffPreference,
    WaitingDevice,
    WaitingEntry,
    WaitingMessage,
    WaitingRoomState,
    WaitingSocket,
    utcnow,
)

log = logging.getLogger(__name__)

SOURCE = "waiting_room"
#: Staff notifications carry patient information: only staff holding this permission
#: get them (the host keeps a room per permission).
CAN_VIEW = ("can_show", "WaitingRoom")
CAN_MANAGE = ("can_manage", "WaitingRoom")
#: Changes that move patients in the queue: every waiting patient gets a fresh view.
#: Changes the patient's pages need not hear of: a new page fetches its view on connect (and
#: the newest is last in line); a device check is answered with the view it changed.
QUIET_FOR_PATIENTS = frozenset({"arrived", "device"})
ORDER_KINDS = frozenset(
    {"arrived", "admitted", "sent_back", "transferred", "left", "removed", "no_show", "completed"}
)
STATUS_WORDS = {
    WAITING: "waiting",
    ADMITTED: "admitted",
    LEFT: "left",
    REMOVED: "removed",
    NO_SHOW: "marked as a no-show",
    COMPLETED: "seen",
}

CONFIG_DEFAULTS: dict[str, Any] = {
    # What the patient sees while waiting.
    "WAITING_ROOM_MESSAGE": (
        "Thank you for checking in. Your clinician will be with you shortly; "
        "please keep this page open."
    ),
    "WAITING_ROOM_LOGO_URL": "",  # empty: the practice name stands in for a logo
    "WAITING_ROOM_ASK_DOB": False,  # identity check: ask the date of birth too
    # The practice's external join link /wait/<code>; several codes comma-separated. Empty:
    # one made for this installation on first use (no deployment shares a known code).
    "WAITING_ROOM_EXTERNAL_CODE": "",
    "WAITING_ROOM_EXTERNAL_CHOOSE_PROVIDER": True,  # external joiners may pick a clinician
    "WAITING_ROOM_PROVIDER_ROLE": "Clinician",
    # Presence: the patient page checks in every HEARTBEAT seconds (a closing page says so
    # at once); silent for AWAY_AFTER seconds counts as away, and away for LEAVE_GRACE
    # seconds (counted from the last contact) as left.
    "WAITING_ROOM_HEARTBEAT": 15,
    "WAITING_ROOM_AWAY_AFTER": 45,
    "WAITING_ROOM_LEAVE_GRACE": 60,
    # Long waits: alert the provider, then the whole practice (seconds of waiting).
    "WAITING_ROOM_ALERT_PROVIDER_AFTER": 600,
    "WAITING_ROOM_ALERT_PRACTICE_AFTER": 1200,
    # Staff pages check in every STAFF_HEARTBEAT seconds; seen within STAFF_ONLINE_AFTER
    # seconds counts as online for the patients waiting for them.
    "WAITING_ROOM_STAFF_HEARTBEAT": 20,
    "WAITING_ROOM_STAFF_ONLINE_AFTER": 90,  # background tabs may check in once a minute
    # Check-ins of pages already known to be present are written in batches this often.
    "WAITING_ROOM_PRESENCE_FLUSH": 5.0,
    # At most one arrival sound / notification per this many seconds in a browser.
    "WAITING_ROOM_NOTIFY_INTERVAL": 10,
    # Long-wait alerts: at most one (grouped) notification per this many seconds.
    "WAITING_ROOM_ALERT_NOTIFY_INTERVAL": 60,
    # What the practice calls the people in its waiting room, in staff alerts.
    "WAITING_ROOM_PERSON_WORD": "patient",
    # Where "Open session" leads once admitted: format strings with {entry_id}; empty: none.
    # Where "admitted" leads; the video plugin serves these. "" hides the link.
    "WAITING_ROOM_SESSION_URL": "/video/entry/{entry_id}",
    "WAITING_ROOM_PATIENT_SESSION_URL": "/video/p/{token}",
    # A copay due from every client with a chart, in cents (0: none by default).
    "WAITING_ROOM_DEFAULT_COPAY_CENTS": 0,
    # A waiting patient may send at most this many chat messages, and not faster than this.
    "WAITING_ROOM_MAX_PATIENT_MESSAGES": 100,
    "WAITING_ROOM_PATIENT_MESSAGE_RATE_LIMIT": "10 per minute",
    # Per client address, on the forms that create an entry; and for wrong join codes.
    "WAITING_ROOM_JOIN_RATE_LIMIT": "20 per minute",
    "WAITING_ROOM_CODE_RATE_LIMIT": "10 per minute",
}


def config(key: str) -> Any:
    """A setting's current value: what the practice admin set in Settings, else config."""
    return setting(key)


def external_codes() -> list[str]:
    """The practice's current external join code (core keeps the registry: the first one
    comes from WAITING_ROOM_EXTERNAL_CODE, or is made for this database)."""
    return [practice_join_code()]


def seconds(key: str) -> dt.timedelta:
    return dt.timedelta(seconds=float(config(key)))


def iso(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds") + "Z"
    return value.isoformat()


def _new_device(entry: WaitingEntry) -> str:
    """A patient token for a new page holding this entry, remembered (in the current
    transaction) so that pushes reach it."""
    # The name given at check-in goes with the patient's own token: the call shows it to staff.
    token = new_patient_token(entry=entry.id, invite=entry.invite_id, name=entry.display_name)
    claims = verify_patient_token(token)
    assert claims is not None
    db_session().add(WaitingDevice(sub=str(claims["sub"]), entry_id=entry.id, created_at=utcnow()))
    return token


# --- the version ---------------------------------------------------------------------


def bump() -> int:
    """Next version of the waiting room, in the current transaction (lock held to commit)."""
    session = db_session()
    session.flush()
    version = session.scalar(
        update(WaitingRoomState)
        .where(WaitingRoomState.id == 1)
        .values(version=WaitingRoomState.version + 1)
        .returning(WaitingRoomState.version)
        .execution_options(synchronize_session=False)
    )
    if version is None:  # the migration adds the row; this only covers a lost one
        session.add(WaitingRoomState(id=1, version=1))
        session.flush()
        return 1
    return int(version)


def current_version() -> int:
    found = db_session().scalar(select(WaitingRoomState.version).where(WaitingRoomState.id == 1))
    return int(found or 0)


# --- people ----------------------------------------------------------------------------


def user_names(ids: Iterable[int | None]) -> dict[int, str]:
    """Staff names from the host's cached directory: no query per page or push."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {m.id: m.name or m.username for m in staff_members() if m.id in wanted}


def clinicians() -> list[StaffMember]:
    """Users holding the provider role (Clinician) who may log in now, by name."""
    found = staff_members(str(config("WAITING_ROOM_PROVIDER_ROLE")))
    return sorted((m for m in found if m.can_log_in), key=lambda m: (m.name.lower(), m.id))


def is_provider(user_id: int | None) -> bool:
    return user_id is not None and any(c.id == user_id for c in clinicians())


def preference(user_id: int, *, create: bool = False) -> StaffPreference | None:
    session = db_session()
    found: StaffPreference | None = session.get(StaffPreference, user_id)
    if found is None and create:
        found = StaffPreference(user_id=user_id, muted=False, availability="available")
        session.add(found)
        try:
            session.flush()
        except IntegrityError:  # another worker made it first
            session.rollback()
            found = session.get(StaffPreference, user_id)
    return found


def _preferences(user_ids: Iterable[int | None]) -> dict[int, StaffPreference]:
    wanted = {i for i in user_ids if i is not None}
    if not wanted:
        return {}
    query = select(StaffPreference).where(StaffPreference.user_id.in_(wanted))
    return {pref.user_id: pref for pref in db_session().scalars(query)}


def _is_online(pref: StaffPreference | None, now: dt.datetime) -> bool:
    return bool(
        pref and pref.seen_at and now - pref.seen_at <= seconds("WAITING_ROOM_STAFF_ONLINE_AFTER")
    )


def _availability(pref: StaffPreference | None, now: dt.datetime) -> dict[str, Any]:
    """What a patient is told about their provider: online or not, and how busy."""
    if pref is None or not _is_online(pref, now):
        return {"availability": "offline", "note": None, "online": False}
    return {"availability": pref.availability, "note": pref.availability_note, "online": True}


def providers() -> list[dict[str, Any]]:
    now = utcnow()
    members = clinicians()
    prefs = _preferences(m.id for m in members)
    return [
        {"id": member.id, "name": member.name, **_availability(prefs.get(member.id), now)}
        for member in members
    ]


# --- what each side sees -----------------------------------------------------------------


def _messages(entry_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in entry_ids}
    if not entry_ids:
        return found
    query = (
        select(WaitingMessage)
        .where(WaitingMessage.entry_id.in_(entry_ids))
        .order_by(WaitingMessage.sent_at, WaitingMessage.id)
    )
    for message in db_session().scalars(query):
        found[message.entry_id].append(
            {
                "id": message.id,
                "sender": message.sender,
                "author": message.author_name,
                "body": message.body,
                "sent_at": iso(message.sent_at),
            }
        )
    return found


def _session_url(key: str, entry: WaitingEntry) -> str | None:
    template = str(config(key) or "")
    if entry.status != ADMITTED or not template:
        return None
    # "{token}" stays for the patient's page to fill in: tokens never travel in broadcasts.
    return template.replace("{entry_id}", str(entry.id))


def staff_summaries(entries: Sequence[WaitingEntry], *, new: bool = False) -> list[dict[str, Any]]:
    """Entries as the staff dashboard shows them (PHI: only for the waiting-room room).
    ``new``: they were just created, so they have no chat to read yet."""
    if not entries:
        return []
    names = user_names(
        i
        for e in entries
        for i in (e.provider_id, e.transferred_by_id, e.admitted_by_id, e.copay_collected_by_id)
    )
    client_ids = {e.client_id for e in entries if e.client_id is not None}
    clients = (
        {c.id: c for c in db_session().scalars(select(Client).where(Client.id.in_(client_ids)))}
        if client_ids
        else {}
    )
    messages = {e.id: [] for e in entries} if new else _messages([e.id for e in entries])
    result = []
    for e in entries:
        client = clients.get(e.client_id) if e.client_id is not None else None
        result.append(
            {
                "id": e.id,
                "version": e.version,
                "status": e.status,
                "name": e.display_name,
                "client": {"id": client.id, "name": client.full_name} if client else None,
                "identity": e.identity,
                "invite_kind": e.invite_kind,
                "provider_id": e.provider_id,
                "provider_name": names.get(e.provider_id) if e.provider_id else None,
                "transferred_by": (
                    names.get(e.transferred_by_id) if e.transferred_by_id is not None else None
                ),
                "transferred_at": iso(e.transferred_at),
                "appointment_at": iso(e.appointment_at),
                "arrived_at": iso(e.arrived_at),
                "waiting_since": iso(e.waiting_since),
                "admitted_at": iso(e.admitted_at),
                "admitted_by": (
                    names.get(e.admitted_by_id) if e.admitted_by_id is not None else None
                ),
                "ended_at": iso(e.ended_at),
                "waited_seconds": e.waited_seconds,
                "copay": {
                    "status": e.copay_status,
                    "amount_cents": e.copay_cents,
                    "collected_at": iso(e.copay_collected_at),
                    "collected_by": (
                        names.get(e.copay_collected_by_id)
                        if e.copay_collected_by_id is not None
                        else None
                    ),
                },
                "consent": {"status": e.consent_status, "at": iso(e.consent_at)},
                "device": {
                    "status": e.device_status,
                    "details": e.device_details,
                    "checked_at": iso(e.device_checked_at),
                },
                "connection": (
                    "unknown"
                    if e.last_seen_at is None
                    else "away"
                    if e.disconnected_at is not None
                    else "online"
                ),
                "away_since": iso(e.disconnected_at),
                "alerts": {
                    "provider_at": iso(e.provider_alerted_at),
                    "practice_at": iso(e.practice_alerted_at),
                },
                "messages": messages[e.id],
                "session_url": _session_url("WAITING_ROOM_SESSION_URL", e),
            }
        )
    return result


def _waiting_for(provider_id: int) -> list[WaitingEntry]:
    query = (
        select(WaitingEntry)
        .where(WaitingEntry.status == WAITING, WaitingEntry.provider_id == provider_id)
        .order_by(WaitingEntry.arrived_at, WaitingEntry.id)
    )
    return list(db_session().scalars(query))


def _ahead_of(entry: WaitingEntry) -> Any:
    """Waiting entries before ``entry`` in line (the order is by arrival): a row-value
    comparison, which both databases answer as a range of the line's index."""
    return and_(
        WaitingEntry.status == WAITING,
        tuple_(WaitingEntry.arrived_at, WaitingEntry.id) < tuple_(entry.arrived_at, entry.id),
    )


def position_of(entry: WaitingEntry) -> int | None:
    """1 for the first in line for the same provider (or overall when unassigned): one
    COUNT on the order index, whatever the length of the queue."""
    if entry.status != WAITING:
        return None
    ahead = _ahead_of(entry)
    if entry.provider_id is not None:
        ahead = and_(ahead, WaitingEntry.provider_id == entry.provider_id)
    count = db_session().scalar(select(func.count()).select_from(WaitingEntry).where(ahead))
    return int(count or 0) + 1


@dataclass(frozen=True)
class Place:
    entry_id: int
    provider_id: int | None
    position: int


def places(behind: WaitingEntry | None = None) -> list[Place]:
    """Every waiting entry's position in one pass over two columns, in line order;
    ``behind`` keeps only the entries after that one (whose place a change can move)."""
    rows = db_session().execute(
        select(WaitingEntry.id, WaitingEntry.provider_id, WaitingEntry.arrived_at)
        .where(WaitingEntry.status == WAITING)
        .order_by(WaitingEntry.arrived_at, WaitingEntry.id)
    )
    found: list[Place] = []
    per_provider = Counter[int]()
    for total_ahead, (entry_id, provider_id, arrived_at) in enumerate(rows):
        ahead = total_ahead if provider_id is None else per_provider[provider_id]
        if behind is None or (arrived_at, entry_id) > (behind.arrived_at, behind.id):
            found.append(Place(entry_id, provider_id, ahead + 1))
        if provider_id is not None:
            per_provider[provider_id] += 1
    return found


def patient_views(
    entries: Sequence[WaitingEntry], version: int, *, unchanged: bool = False
) -> dict[int, dict[str, Any]]:
    """Each entry as its patient sees it: a whole view, so a lost push costs nothing.
    ``unchanged``: the page holds this entry's version already, so the chat is left out
    (a heartbeat then costs no query for it)."""
    if not entries:
        return {}
    if len(entries) == 1:
        positions = {entries[0].id: position_of(entries[0])}
    else:
        positions = {p.entry_id: p.position for p in places()}
    messages = {} if unchanged else _messages([e.id for e in entries])
    names = user_names(e.provider_id for e in entries)
    prefs = _preferences(e.provider_id for e in entries)
    now = utcnow()
    views: dict[int, dict[str, Any]] = {}
    for e in entries:
        provider = (
            {
                "name": names.get(e.provider_id, "your clinician"),
                **_availability(prefs.get(e.provider_id), now),
            }
            if e.provider_id is not None
            else None
        )
        views[e.id] = {
            "version": version,
            "entry_id": e.id,
            "status": e.status,
            "live": e.is_live,
            "name": e.display_name,
            "position": positions.get(e.id) if e.status == WAITING else None,
            "arrived_at": iso(e.arrived_at),
            "waiting_since": iso(e.waiting_since),
            "admitted_at": iso(e.admitted_at),
            "server_time": iso(now),
            "provider": provider,
            "entry_version": e.version,
            "device_status": e.device_status,
            "session_url": _session_url("WAITING_ROOM_PATIENT_SESSION_URL", e),
            "heartbeat": float(config("WAITING_ROOM_HEARTBEAT")),
        }
        if unchanged:
            views[e.id]["unchanged"] = True
        else:
            views[e.id]["messages"] = messages[e.id]
    return views


# --- telling everyone ------------------------------------------------------------------


def domain_payload(entry: WaitingEntry, **extra: Any) -> dict[str, Any]:
    """What other plugins (reporting, sessions, ...) learn about an entry: ids, no names."""
    return {
        "entry_id": entry.id,
        "status": entry.status,
        "invite_id": entry.invite_id,
        "invite_kind": entry.invite_kind,
        "client_id": entry.client_id,
        "provider_id": entry.provider_id,
        "arrived_at": iso(entry.arrived_at),
        "admitted_at": iso(entry.admitted_at),
        "ended_at": iso(entry.ended_at),
        "waited_seconds": entry.waited_seconds,
        "copay_status": entry.copay_status,
        "copay_cents": entry.copay_cents,
        "at": iso(utcnow()),
        **extra,
    }


def announce(
    entry: WaitingEntry, kind: str, *, actor: str | None = None, moved_from: int | None = None
) -> None:
    """Push a committed change: a versioned update to staff, the patient's fresh view to
    their pages, and a new position to each patient behind them whose place it moved.
    ``moved_from``: the provider a transfer took the patient away from."""
    try:
        summary = staff_summaries([entry], new=kind == "arrived")[0]
        notify(
            "waiting_room.update",
            {"version": entry.version, "kind": kind, "actor": actor, "entry": summary},
            permission=CAN_VIEW,
        )
        if kind in QUIET_FOR_PATIENTS:
            return
        push_patients([entry], entry.version)
        if kind in ORDER_KINDS:
            push_positions(entry, {entry.provider_id, moved_from}, entry.version)
    except Exception:  # the change is committed; pages catch up from their snapshot
        log.exception("waiting room: could not announce %s of entry %s", kind, entry.id)
        db_session().rollback()


def _devices(entry_ids: Iterable[int]) -> dict[int, list[str]]:
    wanted = set(entry_ids)
    devices: dict[int, list[str]] = {}
    if not wanted:
        return devices
    query = select(WaitingDevice).where(WaitingDevice.entry_id.in_(wanted))
    for device in db_session().scalars(query):
        devices.setdefault(device.entry_id, []).append(device.sub)
    return devices


def push_positions(moved: WaitingEntry, providers_of: set[int | None], version: int) -> None:
    """A change ahead of them moves the place of the waiting patients behind ``moved``
    who wait for one of ``providers_of`` or for anyone: each gets its new position."""
    affected = [
        p for p in places(behind=moved) if p.provider_id is None or p.provider_id in providers_of
    ]
    devices = _devices(p.entry_id for p in affected)
    for place in affected:
        update_ = {"version": version, "entry_id": place.entry_id, "position": place.position}
        for sub in devices.get(place.entry_id, ()):
            notify("waiting_room.position", update_, namespace="patient", room=f"patient:{sub}")


def push_patients(entries: Sequence[WaitingEntry], version: int) -> None:
    """Each entry's whole view to every page holding it (the host's ``patient:<sub>``)."""
    if not entries:
        return
    devices = _devices(e.id for e in entries)
    reached = [e for e in entries if e.id in devices]
    for entry_id, view in patient_views(reached, version).items():
        for sub in devices[entry_id]:
            notify("waiting_room.status", view, namespace="patient", room=f"patient:{sub}")


def _finish(
    entry: WaitingEntry,
    kind: str,
    *,
    audit_action: str,
    details: dict[str, Any] | None = None,
    event: str | None = None,
    event_extra: dict[str, Any] | None = None,
    actor: str | None = None,
    moved_from: int | None = None,
    version: int | None = None,
) -> WaitingEntry:
    """Bump the version (unless the caller did: ``version``), commit with the audit row and
    what other plugins record of the event, then tell them and the pages. The loaded rows
    stay as written: what is pushed is what was committed, without reading it back."""
    entry.version = bump() if version is None else version
    audit(audit_action, target=f"waiting_entry:{entry.id}", details=details, source=SOURCE)
    if event is not None:
        emit_on_commit(event, domain_payload(entry, **(event_extra or {})), source=SOURCE)
    commit(keep_loaded=True)
    announce(entry, kind, actor=actor, moved_from=moved_from)
    return entry


# --- arrival ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    entry: WaitingEntry
    created: bool
    #: The patient token of the page that checked in.
    token: str


def _appointment_time(reference: str | None) -> dt.datetime | None:
    """Invites for appointments may carry the start time: ``"<anything>@<ISO 8601>"``."""
    if not reference or "@" not in reference:
        return None
    try:
        moment = dt.datetime.fromisoformat(
            reference.rsplit("@", 1)[1].strip().replace("Z", "+00:00")
        )
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _identity(client: Client | None, date_of_birth: dt.date | None) -> str:
    if not config("WAITING_ROOM_ASK_DOB"):
        return "not_checked"
    if client is None or client.date_of_birth is None or date_of_birth is None:
        return "unverified"
    return "matched" if client.date_of_birth == date_of_birth else "mismatch"


def live_entry_for_invite(invite_id: int) -> WaitingEntry | None:
    found: WaitingEntry | None = db_session().scalar(
        select(WaitingEntry).where(WaitingEntry.live_key == f"invite:{invite_id}")
    )
    return found


def join(
    *,
    invite: PatientInvite | None,
    name: str,
    date_of_birth: dt.date | None = None,
    code: str | None = None,
    provider_id: int | None = None,
) -> Arrival:
    """Check a patient in. One invite never makes two live entries: a second join with it
    returns the live one (the database refuses a second ``live_key`` if two race)."""
    session = db_session()
    if invite is not None:
        existing = live_entry_for_invite(invite.id)
        if existing is not None:
            return _another_device(existing)
    client = session.get(Client, invite.client_id) if invite and invite.client_id else None
    now = utcnow()
    copay = int(config("WAITING_ROOM_DEFAULT_COPAY_CENTS") or 0)
    consent = session.get(ClientConsent, client.id) if client is not None else None
    entry = WaitingEntry(
        status=WAITING,
        live_key=f"invite:{invite.id}" if invite is not None else None,
        invite_id=invite.id if invite is not None else None,
        invite_kind=invite.kind if invite is not None else "external",
        external_code=code,
        client_id=client.id if client is not None else None,
        provider_id=invite.provider_id if invite is not None else provider_id,
        display_name=name,
        date_of_birth=date_of_birth,
        identity=_identity(client, date_of_birth),
        appointment_at=_appointment_time(invite.reference if invite is not None else None),
        arrived_at=now,
        waiting_since=now,
        last_seen_at=now,
        copay_status="due" if copay > 0 and client is not None else "not_required",
        copay_cents=copay if copay > 0 and client is not None else None,
        consent_status=consent.status if consent is not None else "unknown",
        consent_at=consent.changed_at if consent is not None else None,
        device_status="pending",
        version=bump(),  # first, so that the row is written once
    )
    session.add(entry)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raced = live_entry_for_invite(invite.id) if invite is not None else None
        if raced is None:
            raise
        return _another_device(raced)
    token = _new_device(entry)
    _finish(
        entry,
        "arrived",
        version=entry.version,
        audit_action="waiting_room.arrived",
        details={
            "invite_id": entry.invite_id,
            "invite_kind": entry.invite_kind,
            "client_id": entry.client_id,
            "provider_id": entry.provider_id,
            "identity": entry.identity,
        },
        event="patient.arrived",
    )
    return Arrival(entry, created=True, token=token)


def _another_device(entry: WaitingEntry) -> Arrival:
    """A second page (another device, or the same link opened again) joins the entry."""
    token = _new_device(entry)
    db_session().commit()
    return Arrival(entry, created=False, token=token)


# --- staff actions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    user_id: int
    name: str


def actor_of(user_id: int | None) -> Actor:
    if user_id is None:
        raise SocketError("unauthorized", "sign in again")
    return Actor(user_id, user_names([user_id]).get(user_id, f"user {user_id}"))


def _load(entry_id: int) -> WaitingEntry:
    entry: WaitingEntry | None = db_session().get(WaitingEntry, entry_id)
    if entry is None:
        raise SocketError("not_found", f"there is no waiting-room entry {entry_id}")
    return entry


def _transition(
    entry_id: int,
    allowed: Sequence[str],
    action: str,
    values: Callable[[WaitingEntry, dt.datetime], dict[str, Any]],
) -> WaitingEntry:
    """Apply ``values`` if the entry is in an ``allowed`` status, atomically: a conditional
    UPDATE, so two staff members acting at once cannot both succeed from the same state."""
    session = db_session()
    entry = _load(entry_id)
    if entry.status not in allowed:
        raise SocketError(
            "invalid_state",
            f"cannot {action} {entry.display_name}: the patient is {STATUS_WORDS[entry.status]}",
        )
    now = utcnow()
    changes = values(entry, now)
    result = session.execute(
        update(WaitingEntry)
        .where(WaitingEntry.id == entry.id, WaitingEntry.status == entry.status)
        .values(**changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.rollback()
        raise SocketError("invalid_state", "the patient's status changed meanwhile; refresh")
    session.refresh(entry)
    return entry


def _waited(entry: WaitingEntry, until: dt.datetime) -> int:
    return max(0, int((until - entry.arrived_at).total_seconds()))


def _ended(entry: WaitingEntry, now: dt.datetime, status: str, by: int | None) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "status": status,
        "ended_at": now,
        "ended_by_id": by,
        "live_key": None,
    }
    if entry.first_admitted_at is None:
        changes["waited_seconds"] = _waited(entry, now)
    return changes


def admit(entry_id: int, actor: Actor) -> WaitingEntry:
    def values(entry: WaitingEntry, now: dt.datetime) -> dict[str, Any]:
        changes: dict[str, Any] = {
            "status": ADMITTED,
            "admitted_at": now,
            "admitted_by_id": actor.user_id,
        }
        if entry.first_admitted_at is None:
            changes["first_admitted_at"] = now
            changes["waited_seconds"] = _waited(entry, now)
        return changes

    entry = _transition(entry_id, (WAITING,), "admit", values)
    return _finish(
        entry,
        "admitted",
        audit_action="waiting_room.admitted",
        details={"provider_id": entry.provider_id, "waited_seconds": entry.waited_seconds},
        event="patient.admitted",
        event_extra={
            "admitted_by": actor.user_id,
            "session_url": _session_url("WAITING_ROOM_SESSION_URL", entry),
        },
        actor=actor.name,
    )


def send_back(entry_id: int, actor: Actor) -> WaitingEntry:
    entry = _transition(
        entry_id,
        (ADMITTED,),
        "send back",
        lambda _e, now: {
            "status": WAITING,
            "waiting_since": now,
            "admitted_at": None,
            "provider_alerted_at": None,
            "practice_alerted_at": None,
        },
    )
    return _finish(
        entry,
        "sent_back",
        audit_action="waiting_room.sent_back",
        event="patient.sent_back",
        event_extra={"by": actor.user_id},
        actor=actor.name,
    )


def transfer(entry_id: int, to_provider_id: int, actor: Actor, note: str | None) -> WaitingEntry:
    target = next((c for c in clinicians() if c.id == to_provider_id), None)
    if target is None:
        raise SocketError("invalid_provider", "transfer to an active clinician")
    current = _load(entry_id)
    if current.provider_id == to_provider_id:
        raise SocketError("invalid_state", f"{current.display_name} is already with {target.name}")
    from_provider = current.provider_id

    def values(entry: WaitingEntry, now: dt.datetime) -> dict[str, Any]:
        changes: dict[str, Any] = {
            "provider_id": to_provider_id,
            "transferred_by_id": actor.user_id,
            "transferred_at": now,
            "provider_alerted_at": None,
            "status": WAITING,
        }
        if entry.status == ADMITTED:
            changes.update(waiting_since=now, admitted_at=None, practice_alerted_at=None)
        return changes

    entry = _transition(entry_id, LIVE_STATUSES, "transfer", values)
    _finish(
        entry,
        "transferred",
        moved_from=from_provider,
        audit_action="waiting_room.transferred",
        details={"from_provider_id": from_provider, "to_provider_id": to_provider_id},
        event="patient.transferred",
        event_extra={
            "from_provider_id": from_provider,
            "to_provider_id": to_provider_id,
            "transferred_by": actor.user_id,
        },
        actor=actor.name,
    )
    # The receiver is told personally who handed the patient over.
    notify(
        "waiting_room.transferred",
        {"by": actor.name, "note": note, "entry": staff_summaries([entry])[0]},
        room=f"user:{to_provider_id}",
    )
    return entry


def remove(entry_id: int, actor: Actor, reason: str | None) -> WaitingEntry:
    entry = _transition(
        entry_id,
        LIVE_STATUSES,
        "remove",
        lambda e, now: _ended(e, now, REMOVED, actor.user_id),
    )
    return _finish(
        entry,
        "removed",
        audit_action="waiting_room.removed",
        details={"reason": reason},
        event="patient.removed",
        event_extra={"reason": "removed", "by": actor.user_id},
        actor=actor.name,
    )


def no_show(entry_id: int, actor: Actor) -> WaitingEntry:
    def values(entry: WaitingEntry, now: dt.datetime) -> dict[str, Any]:
        changes = _ended(entry, now, NO_SHOW, actor.user_id)
        if entry.status == LEFT:  # keep when they really left and how long they waited
            changes.pop("waited_seconds", None)
            changes["ended_at"] = entry.ended_at or now
        return changes

    entry = _transition(entry_id, (WAITING, ADMITTED, LEFT), "mark as a no-show", values)
    return _finish(
        entry,
        "no_show",
        audit_action="waiting_room.no_show",
        event="patient.removed",
        event_extra={"reason": "no_show", "by": actor.user_id},
        actor=actor.name,
    )


def staff_message(entry_id: int, body: str, actor: Actor) -> WaitingEntry:
    entry = _load(entry_id)
    if not entry.is_live:
        raise SocketError(
            "invalid_state",
            f"cannot message {entry.display_name}: the patient is {STATUS_WORDS[entry.status]}",
        )
    return _add_message(entry, "staff", actor.user_id, actor.name, body, actor=actor.name)


def _add_message(
    entry: WaitingEntry,
    sender: str,
    author_id: int | None,
    author_name: str,
    body: str,
    *,
    actor: str | None,
) -> WaitingEntry:
    session = db_session()
    session.add(
        WaitingMessage(
            entry_id=entry.id,
            sender=sender,
            author_id=author_id,
            author_name=author_name,
            body=body,
            sent_at=utcnow(),
        )
    )
    return _finish(
        entry,
        "message",
        audit_action="waiting_room.message_sent",
        details={"sender": sender, "length": len(body)},  # never the text itself
        event="patient.message_sent",
        event_extra={"sender": sender},
        actor=actor,
    )


def mark_copay(
    entry_id: int,
    status: str,
    amount_cents: int | None,
    actor: Actor,
    method: str | None = None,
) -> WaitingEntry:
    """``method`` (card, cash, ...) is told in the event for reporting, not stored here."""
    entry = _load(entry_id)
    method = method if status == "collected" else None
    before = {"status": entry.copay_status, "amount_cents": entry.copay_cents}
    amount = amount_cents if amount_cents is not None else entry.copay_cents
    if status == "not_required":
        amount = None
    elif status == "due" and not amount:
        raise SocketError("invalid", "a copay that is due needs an amount")
    entry.copay_status = status
    entry.copay_cents = amount
    if status == "collected":
        entry.copay_collected_at = utcnow()
        entry.copay_collected_by_id = actor.user_id
    else:
        entry.copay_collected_at = None
        entry.copay_collected_by_id = None
    return _finish(
        entry,
        "copay",
        audit_action="waiting_room.copay_marked",
        details={
            "before": before,
            "after": {"status": status, "amount_cents": amount, "method": method},
        },
        event="patient.copay_updated",
        event_extra={"by": actor.user_id, "method": method},
        actor=actor.name,
    )


# --- staff preferences -----------------------------------------------------------------


def me(user_id: int) -> dict[str, Any]:
    pref = preference(user_id)
    return {
        "user_id": user_id,
        "is_provider": is_provider(user_id),
        "muted": bool(pref and pref.muted),
        "availability": pref.availability if pref else "available",
        "availability_note": pref.availability_note if pref else None,
        "notify_interval": float(config("WAITING_ROOM_NOTIFY_INTERVAL")),
        "alert_interval": float(config("WAITING_ROOM_ALERT_NOTIFY_INTERVAL")),
        "person_word": str(setting("WAITING_ROOM_PERSON_WORD") or "patient"),
        "heartbeat": float(config("WAITING_ROOM_STAFF_HEARTBEAT")),
    }


def set_muted(user_id: int, muted: bool) -> dict[str, Any]:
    pref = preference(user_id, create=True)
    assert pref is not None
    pref.muted = muted
    audit("waiting_room.sound_muted" if muted else "waiting_room.sound_unmuted", source=SOURCE)
    db_session().commit()
    return me(user_id)


def set_availability(user_id: int, availability: str, note: str | None) -> dict[str, Any]:
    pref = preference(user_id, create=True)
    assert pref is not None
    pref.availability = availability
    pref.availability_note = note or None
    pref.seen_at = utcnow()
    audit(
        "waiting_room.availability_set",
        target=f"user:{user_id}",
        details={"availability": availability},
        source=SOURCE,
    )
    db_session().commit()
    notify("waiting_room.providers", providers(), permission=CAN_VIEW)
    push_patients(_waiting_for(user_id), current_version())
    return me(user_id)


def staff_seen(user_id: int) -> None:
    """A staff page checked in. Coming online is written at once (their patients are told);
    staying online is noted in memory and written with the next batch."""
    now = utcnow()
    pref = preference(user_id)
    fresh = seconds("WAITING_ROOM_STAFF_ONLINE_AFTER") / 3
    if pref is not None and pref.seen_at is not None and now - pref.seen_at <= fresh:
        presence.buffer().note_staff(user_id, now)
        _write_presence_when_due()
        return
    pref = preference(user_id, create=True)
    assert pref is not None
    was_online = _is_online(pref, now)
    pref.seen_at = now
    db_session().commit()
    if not was_online:  # patients waiting for them learn at once that they are here
        push_patients(_waiting_for(user_id), current_version())


def _write_presence_when_due() -> None:
    if presence.flush_overdue():
        db_session().commit()


# --- the snapshot ----------------------------------------------------------------------


def snapshot(user_id: int, scope: str = "all") -> dict[str, Any]:
    sweep()
    version = current_version()  # before the entries: the snapshot is at least this new
    query = select(WaitingEntry).where(WaitingEntry.status.in_(LIVE_STATUSES))
    if scope == "mine":
        query = query.where(WaitingEntry.provider_id == user_id)
    elif scope == "unassigned":
        query = query.where(WaitingEntry.provider_id.is_(None))
    elif scope != "all":
        query = query.where(WaitingEntry.provider_id == int(scope))
    entries = list(db_session().scalars(query.order_by(WaitingEntry.arrived_at, WaitingEntry.id)))
    return {
        "version": version,
        "server_time": iso(utcnow()),
        "scope": scope,
        "entries": staff_summaries(entries),
        "providers": providers(),
        "me": me(user_id),
    }


# --- presence, the grace period and long-wait alerts ------------------------------------


def patient_seen(entry: WaitingEntry, sid: str | None = None) -> WaitingEntry:
    """The patient's page checked in (through socket ``sid``): present again (a change
    staff see, written at once) or still here (noted in memory, written in a batch)."""
    if not entry.is_live:
        return entry
    if entry.disconnected_at is None and entry.last_seen_at is not None:
        presence.buffer().note_patient(entry.id, sid, utcnow())
        _write_presence_when_due()
        return entry
    _back(entry)
    return entry


def _back(entry: WaitingEntry) -> bool:
    """Mark an away (or never seen) patient present; ``True`` when it committed."""
    session = db_session()
    result = session.execute(
        update(WaitingEntry)
        .where(WaitingEntry.id == entry.id, WaitingEntry.status.in_(LIVE_STATUSES))
        .values(last_seen_at=utcnow(), disconnected_at=None)
        .execution_options(synchronize_session=False)
    )
    session.refresh(entry)
    if result.rowcount != 1:
        return False
    entry.version = bump()
    session.commit()
    announce(entry, "connection")
    return True


def patient_away(entry: WaitingEntry) -> WaitingEntry:
    """The patient's page closed or reloaded: the grace period starts now. Commits, with
    whatever else the caller put in the transaction."""
    session = db_session()
    if not entry.is_live or entry.disconnected_at is not None:
        session.commit()
        return entry
    result = session.execute(
        update(WaitingEntry)
        .where(
            WaitingEntry.id == entry.id,
            WaitingEntry.status.in_(LIVE_STATUSES),
            WaitingEntry.disconnected_at.is_(None),
        )
        .values(disconnected_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.commit()
        session.refresh(entry)
        return entry
    session.refresh(entry)
    entry.version = bump()
    session.commit()
    announce(entry, "connection")
    return entry


def entry_id_of(claims: dict[str, Any] | None) -> int | None:
    """The entry a patient token names, or ``None`` (other patient tokens, e.g. video's,
    name none; ``True`` is an int to Python, never an id)."""
    entry_id = (claims or {}).get("entry")
    return entry_id if _is_id(entry_id) else None


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def socket_opened(entry_id: int, sid: str) -> None:
    """A page of this entry connected: it is present (again). One commit: the socket's
    row (which other workers count), with the return from away when there is one."""
    session = db_session()
    entry = session.get(WaitingEntry, entry_id)
    if entry is None:
        return
    session.add(WaitingSocket(sid=sid, entry_id=entry_id, seen_at=utcnow()))  # sids are new
    session.flush()
    away = entry.disconnected_at is not None or entry.last_seen_at is None
    if entry.is_live and away and _back(entry):
        return
    session.commit()


def socket_closed(entry_id: int, sid: str) -> None:
    """A page of this entry lost its connection: away once no other page of it is connected.
    A page that reconnected first already holds a new socket, so it stays present."""
    session = db_session()
    presence.buffer().forget_socket(sid)
    session.execute(delete(WaitingSocket).where(WaitingSocket.sid == sid))
    entry = session.get(WaitingEntry, entry_id)
    others = select(func.count()).where(
        WaitingSocket.entry_id == entry_id,
        WaitingSocket.seen_at >= utcnow() - seconds("WAITING_ROOM_AWAY_AFTER"),
    )
    if entry is None or not entry.is_live or session.scalar(others):
        session.commit()
        return
    patient_away(entry)


def patient_leave(entry: WaitingEntry) -> WaitingEntry:
    """The patient chose to leave."""
    entry = _transition(
        entry.id,
        LIVE_STATUSES,
        "leave",
        lambda e, now: {**_ended(e, now, LEFT, None), "left_at": now},
    )
    return _finish(
        entry,
        "left",
        audit_action="waiting_room.left",
        details={"by": "patient"},
        event="patient.left",
        event_extra={"reason": "patient_left"},
    )


def patient_message(entry: WaitingEntry, body: str) -> WaitingEntry:
    if not entry.is_live:
        raise SocketError("invalid_state", "your visit has ended")
    sent = db_session().scalar(
        select(func.count())
        .select_from(WaitingMessage)
        .where(WaitingMessage.entry_id == entry.id, WaitingMessage.sender == "patient")
    )
    if int(sent or 0) >= int(config("WAITING_ROOM_MAX_PATIENT_MESSAGES")):
        raise SocketError("too_many", "please call the practice; this chat is full")
    return _add_message(entry, "patient", None, entry.display_name, body, actor=None)


def device_verdict(check: dict[str, Any]) -> str:
    if check.get("skipped"):
        return "skipped"
    camera, microphone = bool(check.get("camera")), bool(check.get("microphone"))
    latencies = [v for v in (check.get("latency_ms"), check.get("socket_latency_ms")) if v]
    slow = bool(latencies) and max(latencies) > 400
    if not camera and not microphone:
        return "failed"
    if not camera or not microphone or slow:
        return "warning"
    return "ok"


def record_device_check(entry: WaitingEntry, check: dict[str, Any]) -> WaitingEntry:
    if not entry.is_live:
        raise SocketError("invalid_state", "your visit has ended")
    version = bump()  # before the change, so that the row is written once
    entry.device_status = device_verdict(check)
    entry.device_details = check
    entry.device_checked_at = utcnow()
    return _finish(
        entry,
        "device",
        audit_action="waiting_room.device_checked",
        details={"status": entry.device_status},
        version=version,
    )


def sweep() -> None:
    """Lazily apply time: silent pages become away, away too long becomes left, long
    waits raise alerts. Run on staff snapshots, heartbeats and actions; each step is a
    conditional UPDATE, so two workers sweeping at once act once."""
    now = utcnow()
    _sweep_away(now)
    _sweep_left(now)
    _sweep_alerts(now)


def _ids(query: Any) -> list[int]:
    return list(db_session().scalars(query))


def _sweep_away(now: dt.datetime) -> None:
    silent = and_(
        WaitingEntry.status.in_(LIVE_STATUSES),
        WaitingEntry.disconnected_at.is_(None),
        WaitingEntry.last_seen_at.is_not(None),
        WaitingEntry.last_seen_at < now - seconds("WAITING_ROOM_AWAY_AFTER"),
    )
    for entry_id in _ids(select(WaitingEntry.id).where(silent)):
        result = db_session().execute(
            update(WaitingEntry)
            .where(WaitingEntry.id == entry_id, silent)
            .values(disconnected_at=WaitingEntry.last_seen_at)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            db_session().rollback()
            continue
        entry = _load(entry_id)
        db_session().refresh(entry)
        entry.version = bump()
        db_session().commit()
        announce(entry, "connection")


def _sweep_left(now: dt.datetime) -> None:
    gone = and_(
        WaitingEntry.status == WAITING,
        WaitingEntry.disconnected_at.is_not(None),
        WaitingEntry.disconnected_at < now - seconds("WAITING_ROOM_LEAVE_GRACE"),
    )
    for entry_id in _ids(select(WaitingEntry.id).where(gone)):
        entry = _load(entry_id)
        away_since = entry.disconnected_at or now
        changes = {**_ended(entry, away_since, LEFT, None), "left_at": away_since}
        result = db_session().execute(
            update(WaitingEntry)
            .where(WaitingEntry.id == entry_id, gone)
            .values(**changes)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            db_session().rollback()
            continue
        db_session().refresh(entry)
        _finish(
            entry,
            "left",
            audit_action="waiting_room.left",
            details={"by": "grace period", "away_since": iso(away_since)},
            event="patient.left",
            event_extra={"reason": "grace_expired"},
        )


def _sweep_alerts(now: dt.datetime) -> None:
    for level, column, after in (
        ("provider", WaitingEntry.provider_alerted_at, "WAITING_ROOM_ALERT_PROVIDER_AFTER"),
        ("practice", WaitingEntry.practice_alerted_at, "WAITING_ROOM_ALERT_PRACTICE_AFTER"),
    ):
        due = and_(
            WaitingEntry.status == WAITING,
            column.is_(None),
            WaitingEntry.waiting_since <= now - seconds(after),
        )
        for entry_id in _ids(select(WaitingEntry.id).where(due)):
            result = db_session().execute(
                update(WaitingEntry)
                .where(WaitingEntry.id == entry_id, due)
                .values({column.key: now})
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                db_session().rollback()
                continue
            entry = _load(entry_id)
            db_session().refresh(entry)
            waited = max(0, int((now - entry.waiting_since).total_seconds()))
            _finish(
                entry,
                "alert",
                audit_action="waiting_room.alert_sent",
                details={"level": level, "waited_seconds": waited},
                event="patient.waiting_long",
                event_extra={"level": level, "waiting_seconds": waited},
            )
            alert = {
                "level": level,
                "waited_seconds": waited,
                "after_seconds": int(config(after)),
                "entry": staff_summaries([entry])[0],
            }
            if level == "provider" and entry.provider_id is not None:
                notify("waiting_room.alert", alert, room=f"user:{entry.provider_id}")
            else:
                notify("waiting_room.alert", alert, permission=CAN_VIEW)


# --- other plugins' events ------------------------------------------------------------


CONSENT_EVENTS = {"consent.recorded": "recorded", "consent.declined": "declined"}


def on_consent(name: str, payload: dict[str, Any]) -> None:
    client_id = payload.get("client_id")
    if not _is_id(client_id):
        return
    status = CONSENT_EVENTS[name]
    session = db_session()
    now = utcnow()
    try:
        if session.get(Client, client_id) is None:
            return
        row = session.get(ClientConsent, client_id)
        if row is None:
            session.add(ClientConsent(client_id=client_id, status=status, changed_at=now))
        else:
            row.status, row.changed_at = status, now
        session.commit()
        live = session.scalars(
            select(WaitingEntry).where(
                WaitingEntry.client_id == client_id, WaitingEntry.status.in_(LIVE_STATUSES)
            )
        ).all()
        for entry in live:
            entry.consent_status = status
            entry.consent_at = now
            entry.version = bump()
            session.commit()
            announce(entry, "consent")
    except Exception:
        session.rollback()
        raise


def on_session_sent_back(payload: dict[str, Any]) -> None:
    """The clinician sent the patient back from the call: the same change, with the same
    one versioned update for the dashboards and the patient, as "Send back" in the list."""
    entry_id, by = payload.get("entry_id"), payload.get("by")
    if not _is_id(entry_id) or not _is_id(by):
        return
    entry = db_session().get(WaitingEntry, entry_id)
    if entry is None or entry.status != ADMITTED:
        return
    send_back(entry_id, actor_of(by))


def on_session_ended(payload: dict[str, Any]) -> None:
    """A video session of an admitted patient ended: the visit is complete."""
    entry_id = payload.get("waiting_entry_id")
    if not _is_id(entry_id):
        return
    session = db_session()
    try:
        result = session.execute(
            update(WaitingEntry)
            .where(WaitingEntry.id == entry_id, WaitingEntry.status == ADMITTED)
            .values(status=COMPLETED, ended_at=utcnow(), live_key=None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            session.rollback()
            return
        entry = _load(entry_id)
        session.refresh(entry)
        entry.version = bump()
        audit("waiting_room.completed", target=f"waiting_entry:{entry.id}", source=SOURCE)
        emit_on_commit("patient.completed", domain_payload(entry), source=SOURCE)
        commit()
        announce(entry, "completed")
    except Exception:
        session.rollback()
        raise


# --- the home-page widget ---------------------------------------------------------------


def widget_summary(user_id: int | None) -> dict[str, Any]:
    now = utcnow()
    entries = list(
        db_session().scalars(
            select(WaitingEntry)
            .where(WaitingEntry.status.in_(LIVE_STATUSES))
            .order_by(WaitingEntry.arrived_at, WaitingEntry.id)
        )
    )
    waiting = [e for e in entries if e.status == WAITING]
    names = user_names(e.provider_id for e in entries)
    longest = max((now - e.waiting_since for e in waiting), default=None)
    return {
        "waiting": len(waiting),
        "admitted": len(entries) - len(waiting),
        "mine": sum(1 for e in waiting if user_id is not None and e.provider_id == user_id),
        "longest_minutes": int(longest.total_seconds() // 60) if longest is not None else None,
        "rows": [
            {
                "name": e.display_name,
                "provider": names.get(e.provider_id) if e.provider_id else None,
                "status": e.status,
                "minutes": int((now - e.waiting_since).total_seconds() // 60),
            }
            for e in entries[:8]
        ],
    }
