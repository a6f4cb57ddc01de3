"""Reporting's rules: visit records kept from domain events, and the backfill.

Every visit record is changed only by :func:`apply`, from the events other plugins emit
(live, in the emitter's transaction) or replay (``backoffice_history_events``, for the backfill):
reports never read another plugin's tables.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from core.api import MAX_ID, DomainEvent, db_session, practice_timezone
from plugins.reporting.models import (
    ATTENDED,
    CANCELLED,
    LEFT_BEFORE_SEEN,
    NO_SHOW,
    OPEN,
    SentInvite,
    Visit,
    utcnow,
)

log = logging.getLogger(__name__)
SOURCE = "reporting"
BATCH = 2000

ENTRY_EVENTS = {
    "patient.arrived",
    "patient.admitted",
    "patient.sent_back",
    "patient.transferred",
    "patient.left",
    "patient.removed",
    "patient.completed",
    "patient.copay_updated",
}
SESSION_EVENTS = {"session.started", "session.ended"}
CONSENT_EVENTS = {"consent.recorded": "recorded", "consent.declined": "declined"}
LINK_SENT = "consent.session_link_sent"
INVITE_SENT = "invite.sent"
SENT_EVENTS = {LINK_SENT, INVITE_SENT}
APPOINTMENT_CANCELLED = "calendar.appointment_cancelled"
APPOINTMENT_REINSTATED = "calendar.appointment_reinstated"
#: Every event a visit record is built from (each is declared by the plugin emitting it).
RELIED_ON = (
    ENTRY_EVENTS
    | SESSION_EVENTS
    | set(CONSENT_EVENTS)
    | SENT_EVENTS
    | {APPOINTMENT_CANCELLED, APPOINTMENT_REINSTATED}
)
#: How ``invite.sent``'s channels are written, in this order ("sms+email" for both).
CHANNELS = ("sms", "email")


def _id(value: Any) -> int | None:
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID
        else None
    )


def _time(value: Any) -> dt.datetime | None:
    """An ISO time from a payload as naive UTC; ``None`` when absent or not a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def localise(visit: Visit, zone: ZoneInfo) -> None:
    local = visit.arrived_at.replace(tzinfo=dt.UTC).astimezone(zone)
    visit.local_date = local.date()
    visit.local_hour = local.hour
    visit.local_weekday = local.weekday()


def outcome_of(visit: Visit) -> str:
    if visit.ended_how == "cancelled":
        return CANCELLED
    if visit.ended_how == "no_show":
        return NO_SHOW
    if visit.first_admitted_at is not None or visit.session_started_at is not None:
        return ATTENDED
    if visit.ended_how == "left":
        return LEFT_BEFORE_SEEN
    if visit.ended_how == "removed":
        return CANCELLED
    if visit.ended_how == "completed":
        return ATTENDED
    return OPEN


class Store(Protocol):
    def by_entry(self, entry_id: int) -> Visit | None: ...
    def by_session(self, session_id: int) -> Visit | None: ...
    def by_appointment(self, appointment_id: int) -> Visit | None: ...
    def add(self, visit: Visit) -> None: ...
    def remove(self, visit: Visit) -> None: ...
    def sent_invite(self, invite_id: int) -> SentInvite | None: ...


class DatabaseStore:
    """Visits as the database holds them: the live listener's store."""

    def by_entry(self, entry_id: int) -> Visit | None:
        found: Visit | None = db_session().scalar(select(Visit).where(Visit.entry_id == entry_id))
        return found

    def by_session(self, session_id: int) -> Visit | None:
        found: Visit | None = db_session().scalar(
            select(Visit).where(Visit.session_id == session_id)
        )
        return found

    def by_appointment(self, appointment_id: int) -> Visit | None:
        found: Visit | None = db_session().scalar(
            select(Visit).where(Visit.appointment_id == appointment_id)
        )
        return found

    def add(self, visit: Visit) -> None:
        db_session().add(visit)

    def remove(self, visit: Visit) -> None:
        db_session().delete(visit)

    def sent_invite(self, invite_id: int) -> SentInvite | None:
        found: SentInvite | None = db_session().get(SentInvite, invite_id)
        return found


class BatchStore(DatabaseStore):
    """The backfill's store: new visits kept at hand until the batch is written."""

    def __init__(self) -> None:
        self.entries: dict[int, Visit] = {}
        self.sessions: dict[int, Visit] = {}
        self.appointments: dict[int, Visit] = {}
        self.added = 0

    def by_entry(self, entry_id: int) -> Visit | None:
        return self.entries.get(entry_id) or super().by_entry(entry_id)

    def by_session(self, session_id: int) -> Visit | None:
        return self.sessions.get(session_id) or super().by_session(session_id)

    def by_appointment(self, appointment_id: int) -> Visit | None:
        return self.appointments.get(appointment_id) or super().by_appointment(appointment_id)

    def add(self, visit: Visit) -> None:
        super().add(visit)
        self.added += 1
        if visit.entry_id is not None:
            self.entries[visit.entry_id] = visit
        if visit.session_id is not None:
            self.sessions[visit.session_id] = visit
        if visit.appointment_id is not None:
            self.appointments[visit.appointment_id] = visit

    def remove(self, visit: Visit) -> None:
        if visit.appointment_id is not None:
            self.appointments.pop(visit.appointment_id, None)
        super().remove(visit)

    def remember_session(self, visit: Visit) -> None:
        if visit.session_id is not None:
            self.sessions[visit.session_id] = visit

    def write(self) -> None:
        """Send the batch; the commit comes once, at the end (the history being replayed
        is still read from an open cursor, which a commit would close)."""
        db_session().flush()
        self.entries.clear()
        self.sessions.clear()
        self.appointments.clear()


# --- one event ----------------------------------------------------------------------------


def _new_visit(store: Store, zone: ZoneInfo, arrived: dt.datetime, **fields: Any) -> Visit:
    visit = Visit(
        arrived_at=arrived,
        outcome=OPEN,
        admissions=0,
        sent_back=0,
        transfers=0,
        copay_status="not_required",
        consent_status="unknown",
        **fields,
    )
    localise(visit, zone)
    store.add(visit)
    return visit


def _link_invite(visit: Visit, store: Store) -> None:
    """The invite that brought the patient, if Reporting heard it go out."""
    if visit.invite_id is None or visit.invite_sent_at is not None:
        return
    sent = store.sent_invite(visit.invite_id)
    if sent is not None:
        visit.invite_sent_at, visit.invite_channel = sent.sent_at, sent.channel


def _entry_event(event: DomainEvent, store: Store, zone: ZoneInfo, at: dt.datetime) -> Visit | None:
    p = event.payload
    entry_id = _id(p.get("entry_id"))
    if entry_id is None:
        return None
    visit = store.by_entry(entry_id)
    if visit is None:
        arrived = _time(p.get("arrived_at")) or at
        visit = _new_visit(
            store,
            zone,
            arrived,
            entry_id=entry_id,
            invite_kind=str(p.get("invite_kind") or "external"),
        )
    visit.client_id = _id(p.get("client_id"))
    visit.invite_id = _id(p.get("invite_id")) or visit.invite_id
    _link_invite(visit, store)
    visit.provider_id = _id(p.get("provider_id"))
    if isinstance(p.get("copay_status"), str):
        visit.copay_status = p["copay_status"]
        visit.copay_cents = p.get("copay_cents") if isinstance(p.get("copay_cents"), int) else None
    name = event.name
    if name == "patient.admitted":
        visit.admissions += 1
        if visit.first_admitted_at is None:
            visit.first_admitted_at = _time(p.get("admitted_at")) or at
            waited = p.get("waited_seconds")
            visit.waited_seconds = (
                waited
                if isinstance(waited, int)
                else max(0, int((visit.first_admitted_at - visit.arrived_at).total_seconds()))
            )
    elif name == "patient.sent_back":
        visit.sent_back += 1
    elif name == "patient.transferred":
        visit.transfers += 1
        visit.provider_id = _id(p.get("to_provider_id")) or visit.provider_id
    elif name in ("patient.left", "patient.removed", "patient.completed"):
        how = {"patient.left": "left", "patient.completed": "completed"}.get(name)
        if how is None:
            how = "no_show" if p.get("reason") == "no_show" else "removed"
        visit.ended_how = how
        visit.ended_at = _time(p.get("ended_at")) or at
    elif name == "patient.copay_updated":
        method = p.get("method")
        collected = visit.copay_status == "collected"
        visit.copay_method = method if collected and isinstance(method, str) else None
    return visit


def _session_event(
    event: DomainEvent, store: Store, zone: ZoneInfo, at: dt.datetime
) -> Visit | None:
    p = event.payload
    session_id = _id(p.get("session_id"))
    if session_id is None:
        return None
    entry_id = _id(p.get("waiting_entry_id")) or _id(p.get("entry_id"))
    visit = store.by_entry(entry_id) if entry_id is not None else None
    visit = visit or store.by_session(session_id)
    started = _time(p.get("started_at"))
    if visit is None:
        reference = str(p.get("reference") or "")
        kind = "appointment" if reference.startswith("appointment:") else "direct"
        visit = _new_visit(
            store, zone, started or at, entry_id=entry_id, session_id=session_id, invite_kind=kind
        )
        visit.client_id = _id(p.get("client_id"))
        visit.provider_id = _id(p.get("provider_id"))
    visit.session_id = session_id
    if isinstance(store, BatchStore):
        store.remember_session(visit)
    visit.session_started_at = started or visit.session_started_at or at
    if event.name == "session.ended":
        visit.session_ended_at = _time(p.get("ended_at")) or at
        duration = p.get("duration_seconds")
        visit.session_seconds = (
            duration
            if isinstance(duration, int)
            else int((visit.session_ended_at - visit.session_started_at).total_seconds())
        )
        if visit.entry_id is None:
            visit.ended_how, visit.ended_at = "completed", visit.session_ended_at
    return visit


def _appointment_cancelled(
    event: DomainEvent, store: Store, zone: ZoneInfo, at: dt.datetime
) -> Visit | None:
    """A cancelled appointment is a cancelled visit on the day it was booked for; cancelling
    it again only brings its record up to date."""
    p = event.payload
    appointment_id = _id(p.get("appointment_id"))
    starts = _time(p.get("starts_at"))
    if appointment_id is None or starts is None:
        return None
    visit = store.by_appointment(appointment_id)
    if visit is None:
        visit = _new_visit(
            store, zone, starts, appointment_id=appointment_id, invite_kind="appointment"
        )
    else:
        visit.arrived_at = starts
        localise(visit, zone)
    visit.client_id = _id(p.get("client_id"))
    visit.provider_id = _id(p.get("provider_id"))
    visit.ended_how, visit.ended_at = "cancelled", at
    return visit


def _appointment_reinstated(event: DomainEvent, store: Store) -> None:
    """An appointment no longer cancelled is no visit (yet): its record goes."""
    appointment_id = _id(event.payload.get("appointment_id"))
    visit = store.by_appointment(appointment_id) if appointment_id is not None else None
    if visit is not None:
        store.remove(visit)


def _consent_event(event: DomainEvent) -> None:
    client_id = _id(event.payload.get("client_id"))
    if client_id is None:
        return
    for visit in db_session().scalars(
        select(Visit).where(Visit.client_id == client_id, Visit.outcome == OPEN)
    ):
        visit.consent_status = CONSENT_EVENTS[event.name]


def _invite_went_out(
    invite_id: int | None, client_id: int | None, channel: str, at: dt.datetime
) -> None:
    """Keep the invite until its visit comes (``_link_invite``), and mark visits it
    already brought."""
    if invite_id is None:
        return
    session = db_session()
    sent = session.get(SentInvite, invite_id)
    if sent is None:
        session.add(
            SentInvite(invite_id=invite_id, client_id=client_id, channel=channel, sent_at=at)
        )
    for visit in session.scalars(select(Visit).where(Visit.invite_id == invite_id)):
        visit.invite_sent_at, visit.invite_channel = at, channel


def _channels(value: Any) -> str:
    """``invite.sent``'s channels as one word that fits the column: sms, email, sms+email."""
    listed = value if isinstance(value, list) else []
    return "+".join(channel for channel in CHANNELS if channel in listed)


def _sent_event(event: DomainEvent, at: dt.datetime) -> None:
    p = event.payload
    if event.name == LINK_SENT:
        channel = str(p.get("channel") or "")[:10]
        _invite_went_out(_id(p.get("invite_id")), _id(p.get("client_id")), channel, at)
    else:
        _invite_went_out(_id(p.get("invite_id")), None, _channels(p.get("channels")), at)


def apply(event: DomainEvent, store: Store, zone: ZoneInfo) -> Visit | None:
    """Fold one event into the visit it concerns (created if new); the caller commits."""
    at = _time(event.payload.get("at")) or utcnow()
    visit: Visit | None = None
    if event.name in ENTRY_EVENTS:
        visit = _entry_event(event, store, zone, at)
    elif event.name in SESSION_EVENTS:
        visit = _session_event(event, store, zone, at)
    elif event.name in CONSENT_EVENTS:
        _consent_event(event)
    elif event.name in SENT_EVENTS:
        _sent_event(event, at)
    elif event.name == APPOINTMENT_CANCELLED:
        visit = _appointment_cancelled(event, store, zone, at)
    elif event.name == APPOINTMENT_REINSTATED:
        _appointment_reinstated(event, store)
    if visit is not None:
        visit.outcome = outcome_of(visit)
        visit.updated_at = utcnow()
    return visit


def record(event: DomainEvent) -> None:
    """The live recorder: the visit changes in the emitter's transaction, saved by its
    commit (or not at all), so a visit record never disagrees with what it is built from."""
    if event.name in RELIED_ON:
        apply(event, DatabaseStore(), practice_timezone())


# --- the backfill ---------------------------------------------------------------------------


def backfill(history: Iterable[DomainEvent], *, rebuild: bool = False) -> int:
    """Build visits from replayed history; visits already recorded are left alone (all
    rebuilt with ``rebuild``). Returns the number of visits added."""
    session = db_session()
    if rebuild:
        session.execute(delete(Visit))
        session.commit()
    known_entries = set(session.scalars(select(Visit.entry_id).where(Visit.entry_id.is_not(None))))
    known_sessions = set(
        session.scalars(select(Visit.session_id).where(Visit.session_id.is_not(None)))
    )
    known_appointments = set(
        session.scalars(select(Visit.appointment_id).where(Visit.appointment_id.is_not(None)))
    )
    zone = practice_timezone()
    store = BatchStore()
    for event in history:
        p = event.payload
        entry_id = _id(p.get("waiting_entry_id")) or _id(p.get("entry_id"))
        if (
            entry_id in known_entries
            or _id(p.get("session_id")) in known_sessions
            or _id(p.get("appointment_id")) in known_appointments
        ):
            continue
        if event.name in CONSENT_EVENTS or event.name in SENT_EVENTS:
            continue  # a replayed consent or invite is no news to visits long over
        before = store.added
        apply(event, store, zone)
        if store.added != before and store.added % BATCH == 0:
            store.write()
    store.write()
    session.commit()
    from plugins.reporting.seed import analyse

    analyse()
    return store.added


def relocalise() -> int:
    """Recompute every visit's local date, hour and weekday (after the zone changed)."""
    zone = practice_timezone()
    count = 0
    session = db_session()
    for visit in session.scalars(select(Visit).execution_options(yield_per=BATCH)):
        localise(visit, zone)
        count += 1
    session.commit()
    return count
