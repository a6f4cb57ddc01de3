"""The rules of a video session, shared by the pages, the Socket.IO events and the listeners.

Who is who: every participant has a *key* that says where to reach them, because plugins
can only address the host's personal rooms: ``staff:<user id>`` (room ``user:<id>`` on
/staff), ``patient:<token sub>`` and ``guest:<token sub>`` (room ``patient:<sub>`` on
/patient). A person has one participant row per session; re-joining reuses it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.api import (
    Client,
    SocketError,
    audit,
    db_session,
    emit_domain_event,
    new_patient_token,
    notify,
    setting,
)
from plugins.video.models import (
    ADHOC,
    ENDED,
    GUEST,
    LIVE,
    OPEN,
    PATIENT,
    STAFF,
    VideoChatLine,
    VideoParticipant,
    VideoSession,
    utcnow,
    waiting_room_reference,
)

log = logging.getLogger(__name__)
SOURCE = "video"
CHAT_HISTORY = 200

CONFIG_DEFAULTS: dict[str, Any] = {
    # ICE servers handed to every participant's RTCPeerConnection. STUN finds a public
    # address; TURN relays media when no direct path exists (strict NATs, some mobiles).
    # No internet on the host? Leave them empty: host candidates work on one network.
    "VIDEO_STUN_URLS": [],  # e.g. ["stun:stun.example.org:3478"]
    "VIDEO_TURN_URLS": [],  # e.g. ["turn:turn.example.org:3478?transport=udp", "turns:..."]
    # Long-term TURN credentials, handed to participants as they are ...
    "VIDEO_TURN_USERNAME": "",
    "VIDEO_TURN_CREDENTIAL": "",
    # ... or, better, coturn's shared secret (use-auth-secret): each join gets a
    # credential that expires after VIDEO_TURN_TTL seconds.
    "VIDEO_TURN_SECRET": "",
    "VIDEO_TURN_TTL": 12 * 3600,
}
ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


# --- configuration ---------------------------------------------------------------------


def url_list(value: Any, key: str = "ICE servers") -> list[str]:
    """ICE server URLs from a config list, or a text of URLs separated by commas, spaces
    or lines (the Settings form's); ``ValueError`` names the one that is not."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple):
        raise ValueError(f"{key} must be a list of URLs, not {value!r}")
    urls = [str(url).strip() for url in value if str(url).strip()]
    for url in urls:
        if not url.startswith(ICE_SCHEMES):
            raise ValueError(f"{key}: {url!r} must start with one of {', '.join(ICE_SCHEMES)}")
    return urls


def check_urls(value: Any) -> str | None:
    """The Settings form's check of a list of ICE server URLs."""
    try:
        url_list(value)
    except ValueError as exc:
        return str(exc).removeprefix("ICE servers: ")
    return None


def ice_servers() -> list[dict[str, Any]]:
    """``RTCConfiguration.iceServers`` from the practice settings (else the config);
    ``ValueError`` when they are unusable."""
    servers: list[dict[str, Any]] = []
    stun = url_list(setting("VIDEO_STUN_URLS") or [], "VIDEO_STUN_URLS")
    if stun:
        servers.append({"urls": stun})
    turn = url_list(setting("VIDEO_TURN_URLS") or [], "VIDEO_TURN_URLS")
    if turn:
        secret = str(setting("VIDEO_TURN_SECRET") or "")
        if secret:
            expires = int(time.time()) + int(setting("VIDEO_TURN_TTL") or 3600)
            username = f"{expires}:backoffice"
            digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
            credential = base64.b64encode(digest).decode()
        else:
            username = str(setting("VIDEO_TURN_USERNAME") or "")
            credential = str(setting("VIDEO_TURN_CREDENTIAL") or "")
        if not username or not credential:
            raise ValueError(
                "VIDEO_TURN_URLS needs VIDEO_TURN_USERNAME and VIDEO_TURN_CREDENTIAL "
                "(or VIDEO_TURN_SECRET)"
            )
        servers.append({"urls": turn, "username": username, "credential": credential})
    return servers


def ice_servers_for_a_call() -> list[dict[str, Any]]:
    """The ICE servers a joining participant gets: a TURN setting left half done in
    Settings is logged and left out, never a failed join (host candidates and STUN still
    connect on most networks)."""
    try:
        return ice_servers()
    except ValueError as exc:
        log.error("video: the STUN/TURN settings are unusable (%s); joining without them", exc)
        return []


# --- who is talking ----------------------------------------------------------------------


@dataclass(frozen=True)
class Who:
    """A participant as the server knows them from their socket or page."""

    key: str
    kind: str
    display_name: str
    user_id: int | None = None
    sub: str | None = None
    claims: dict[str, Any] | None = None

    @property
    def is_staff(self) -> bool:
        return self.kind == STAFF


def address(key: str) -> tuple[str, str]:
    """(namespace, room) of a participant key."""
    kind, _, ident = key.partition(":")
    if kind == STAFF:
        return "staff", f"user:{ident}"
    return "patient", f"patient:{ident}"


def user_name(user_id: int | None) -> str:
    user = db_session().get(User, user_id) if user_id is not None else None
    if user is None:
        return "Clinician"
    return f"{user.first_name} {user.last_name}".strip() or str(user.username)


def staff_who(user_id: int) -> Who:
    return Who(
        key=f"{STAFF}:{user_id}", kind=STAFF, display_name=user_name(user_id), user_id=user_id
    )


def patient_who(claims: dict[str, Any], session: VideoSession | None = None) -> Who:
    sub = str(claims["sub"])
    if claims.get("guest"):
        name = str(claims.get("name") or "Guest")[:200]
        return Who(key=f"{GUEST}:{sub}", kind=GUEST, display_name=name, sub=sub, claims=claims)
    name = str(claims.get("name") or "").strip()[:200]  # given at check-in (waiting room)
    client = session.client if session is not None else None
    if not name and client is not None:
        name = f"{client.first_name} {client.last_name[:1]}.".strip()
    name = name or "Patient"
    return Who(key=f"{PATIENT}:{sub}", kind=PATIENT, display_name=name, sub=sub, claims=claims)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


# --- finding sessions --------------------------------------------------------------------


def get_session(session_id: int) -> VideoSession | None:
    found: VideoSession | None = db_session().get(VideoSession, session_id)
    return found


def sessions_of_entry(entry_id: int) -> list[VideoSession]:
    """The sessions of one waiting-room entry, newest first."""
    query = (
        select(VideoSession)
        .where(VideoSession.reference == waiting_room_reference(entry_id))
        .order_by(VideoSession.id.desc())
    )
    return list(db_session().scalars(query))


def current_session_of_entry(entry_id: int) -> VideoSession | None:
    """The entry's session that has not ended, else its latest one, else ``None``."""
    sessions = sessions_of_entry(entry_id)
    for session in sessions:
        if session.status != ENDED:
            return session
    return sessions[0] if sessions else None


def open_session_for_reference(reference: str) -> VideoSession | None:
    """The session of ``reference`` (e.g. ``appointment:12``) that has not ended, if any."""
    query = (
        select(VideoSession)
        .where(VideoSession.reference == reference, VideoSession.status != ENDED)
        .order_by(VideoSession.id.desc())
        .limit(1)
    )
    found: VideoSession | None = db_session().scalar(query)
    return found


def session_for_claims(claims: dict[str, Any]) -> VideoSession | None:
    """The session a patient token opens: ``video_session=<id>``, or ``entry=<id>`` (the
    waiting room's tokens) mapped to that entry's session."""
    session_id = _int(claims.get("video_session"))
    if session_id is not None:
        return get_session(session_id)
    entry_id = _int(claims.get("entry"))
    if entry_id is not None:
        return current_session_of_entry(entry_id)
    return None


def commit() -> None:
    """The one commit of a request or event: the change together with its audit rows.
    Notifications and domain events go out after it, so nobody sees uncommitted state."""
    try:
        db_session().commit()
    except Exception:
        db_session().rollback()
        raise


def create_session(
    *,
    provider_id: int,
    reference: str = ADHOC,
    client_id: int | None = None,
    patient_sub: str | None = None,
    return_url: str | None = None,
    via: str,
) -> VideoSession:
    session = VideoSession(
        reference=reference,
        provider_id=provider_id,
        client_id=client_id,
        patient_sub=patient_sub,
        return_url=return_url,
        status=OPEN,
        created_at=utcnow(),
    )
    db_session().add(session)
    db_session().flush()  # the id, for the audit row
    audit(
        "video.session_created",
        target=target(session),
        details={"reference": reference, "client_id": client_id, "via": via},
        source=SOURCE,
    )
    commit()
    return session


def target(session: VideoSession) -> str:
    return f"video_session:{session.id}"


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


# --- what clients see ----------------------------------------------------------------------


def participant_view(participant: VideoParticipant) -> dict[str, Any]:
    return {
        "key": participant.key,
        "kind": participant.kind,
        "display_name": participant.display_name,
        "present": participant.left_at is None,
        "joined_at": iso(participant.joined_at),
    }


def chat_view(line: VideoChatLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "session_id": line.session_id,
        "sender_name": line.sender_name,
        "sender_kind": line.sender_kind,
        "body": line.body,
        "at": iso(line.at),
    }


def session_view(session: VideoSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "status": session.status,
        "created_at": iso(session.created_at),
        "started_at": iso(session.started_at),
        "ended_at": iso(session.ended_at),
        "duration_seconds": session.duration_seconds,
    }


def chat_history(session: VideoSession) -> list[dict[str, Any]]:
    query = (
        select(VideoChatLine)
        .where(VideoChatLine.session_id == session.id)
        .order_by(VideoChatLine.id.desc())
        .limit(CHAT_HISTORY)
    )
    return [chat_view(line) for line in reversed(list(db_session().scalars(query)))]


def domain_payload(session: VideoSession, **extra: Any) -> dict[str, Any]:
    """What other plugins (waiting room, reporting, ...) learn: ids and times, no names."""
    return {
        "session_id": session.id,
        "reference": session.reference,
        "entry_id": session.entry_id,
        "waiting_entry_id": session.entry_id,
        "provider_id": session.provider_id,
        "clinician_id": session.provider_id,
        "client_id": session.client_id,
        "status": session.status,
        "started_at": iso(session.started_at),
        "ended_at": iso(session.ended_at),
        "duration_seconds": session.duration_seconds,
        **extra,
    }


def tell(keys: list[str], event: str, data: Any) -> None:
    """Push ``event`` to each participant's personal room (staff or patient namespace)."""
    for key in dict.fromkeys(keys):
        namespace, room = address(key)
        try:
            notify(event, data, namespace=namespace, room=room)
        except Exception:  # the database already holds the change; clients resync on join
            log.exception("video: could not tell %s about %s", key, event)


def present(session: VideoSession) -> list[VideoParticipant]:
    return [p for p in session.participants if p.left_at is None]


def _participant(session: VideoSession, key: str) -> VideoParticipant | None:
    return next((p for p in session.participants if p.key == key), None)


# --- the session's life ---------------------------------------------------------------------


def _require_session(session_id: int) -> VideoSession:
    session = get_session(session_id)
    if session is None:
        raise SocketError("not_found", "there is no such video session")
    return session


def _require_open(session: VideoSession) -> None:
    if session.status == ENDED:
        raise SocketError("ended", "this video session has ended")


def may_enter(who: Who, session: VideoSession) -> bool:
    """Staff holding the permission may enter any session; a patient or guest only the
    session their token opens."""
    if who.is_staff:
        return True
    found = session_for_claims(who.claims or {})
    return found is not None and found.id == session.id


def _start_if_due(session: VideoSession, now: dt.datetime) -> bool:
    if session.started_at is None and len(present(session)) >= 2:
        session.started_at = now
        session.status = LIVE
        return True
    return False


def join(session_id: int, who: Who, sid: str | None = None) -> dict[str, Any]:
    """Enter (or re-enter) a session through socket ``sid``; returns what the page needs
    to call the others."""
    session = _require_session(session_id)
    if not may_enter(who, session):
        raise SocketError("forbidden", "this link does not open that session")
    _require_open(session)
    now = utcnow()
    participant = _participant(session, who.key)
    rejoined = participant is not None
    if participant is None:
        participant = VideoParticipant(
            session=session,
            key=who.key,
            kind=who.kind,
            user_id=who.user_id,
            sub=who.sub,
            display_name=who.display_name,
            joined_at=now,
        )
        db_session().add(participant)
        try:
            db_session().flush()
        except IntegrityError:  # the same person joined at the same moment elsewhere
            db_session().rollback()
            session = _require_session(session_id)
            participant = _participant(session, who.key)
            if participant is None:
                raise
            rejoined = True
    if rejoined:
        participant.left_at = None
    participant.sid = sid
    if who.kind == PATIENT and session.patient_sub is None:
        session.patient_sub = who.sub
    started = _start_if_due(session, now)
    audit(
        "video.rejoined" if rejoined else "video.joined",
        target=target(session),
        details={"participant": who.kind, "user_id": who.user_id},
        source=SOURCE,
    )
    if started:
        _audit_started(session)
    commit()
    others = [p for p in present(session) if p.key != who.key]
    tell(
        [p.key for p in others],
        "video.participant_joined",
        {"session_id": session.id, "participant": participant_view(participant)},
    )
    if started:
        _announce_started(session)
    return {
        "session": session_view(session),
        "me": participant_view(participant),
        "rejoined": rejoined,
        "ice_servers": ice_servers_for_a_call(),
        "participants": [participant_view(p) for p in session.participants],
        "chat": chat_history(session),
    }


def _audit_started(session: VideoSession) -> None:
    audit("video.session_started", target=target(session), source=SOURCE)


def _announce_started(session: VideoSession) -> None:
    tell(
        [p.key for p in present(session)],
        "video.started",
        {"session_id": session.id, "session": session_view(session)},
    )
    emit_domain_event("session.started", domain_payload(session), source=SOURCE)


def signal(payload: dict[str, Any], who: Who) -> dict[str, Any]:
    """Relay one WebRTC message to another participant of the same live session."""
    session = _require_session(payload["session_id"])
    _require_open(session)
    sender = _participant(session, who.key)
    recipient = _participant(session, payload["to"])
    if sender is None or sender.left_at is not None:
        raise SocketError("not_participant", "join the session first")
    if recipient is None or recipient.left_at is not None or recipient.key == who.key:
        raise SocketError("not_participant", "that person is not in this session")
    if session.status == OPEN and _start_if_due(session, utcnow()):
        _audit_started(session)  # two joins crossed; the second participant is here all the same
        commit()
        _announce_started(session)
    if session.status != LIVE:
        raise SocketError("not_live", "the session has not started")
    message: dict[str, Any] = {
        "session_id": session.id,
        "from": who.key,
        "from_name": sender.display_name,
        "pc": payload.get("pc"),
    }
    if payload.get("description") is not None:
        message["description"] = payload["description"]
    else:
        message["candidate"] = payload["candidate"]
    tell([recipient.key], "video.signal", message)
    return {"delivered": True}


def chat(payload: dict[str, Any], who: Who) -> dict[str, Any]:
    session = _require_session(payload["session_id"])
    _require_open(session)
    sender = _participant(session, who.key)
    if sender is None or sender.left_at is not None:
        raise SocketError("not_participant", "join the session first")
    line = VideoChatLine(
        session_id=session.id,
        sender_name=sender.display_name,
        sender_kind=sender.kind,
        body=payload["body"].strip(),
        at=utcnow(),
    )
    db_session().add(line)
    db_session().flush()  # the id, for the audit row
    audit(
        "video.chat_sent",
        target=target(session),
        details={"line": line.id, "participant": who.kind, "length": len(line.body)},
        source=SOURCE,
    )
    commit()
    view = chat_view(line)
    tell([p.key for p in present(session)], "video.chat", view)
    return view


def leave(session_id: int, who: Who) -> dict[str, Any]:
    session = _require_session(session_id)
    participant = _participant(session, who.key)
    if participant is None:
        raise SocketError("not_participant", "you are not in this session")
    if participant.left_at is None:
        _gone(session, participant, "video.left", {"participant": who.kind})
        commit()
        _tell_gone(session, participant, reason="left")
    return {"session": session_view(session)}


def _gone(
    session: VideoSession, participant: VideoParticipant, action: str, details: dict[str, Any]
) -> None:
    """Someone is out of the call (said goodbye, or their socket dropped): record it; the
    caller commits, then tells those still in it (:func:`_tell_gone`)."""
    participant.left_at = utcnow()
    audit(action, target=target(session), details=details, source=SOURCE)


def _tell_gone(session: VideoSession, participant: VideoParticipant, *, reason: str) -> None:
    tell(
        [p.key for p in present(session)],
        "video.participant_left",
        {"session_id": session.id, "key": participant.key, "reason": reason},
    )


def socket_dropped(sid: str) -> None:
    """A socket went away: whoever is in a session through it has dropped out of it. The
    others are told at once instead of watching a frozen picture; a re-join brings them back."""
    dropped = db_session().scalars(
        select(VideoParticipant).where(
            VideoParticipant.sid == sid, VideoParticipant.left_at.is_(None)
        )
    )
    participants = list(dropped)
    gone = [p for p in participants if p.session.status != ENDED]
    for participant in participants:
        participant.sid = None
    for participant in gone:
        details = {"participant": participant.kind, "user_id": participant.user_id}
        _gone(participant.session, participant, "video.dropped", details)
    if participants:
        commit()
    for participant in gone:
        _tell_gone(participant.session, participant, reason="dropped")


def _may_run(session: VideoSession, who: Who) -> None:
    """Ending and sending back are for the session's clinician or a clinician in it."""
    if session.provider_id == who.user_id or _participant(session, who.key) is not None:
        return
    raise SocketError("forbidden", "only a clinician in this session may do that")


def end(session_id: int, who: Who | None, *, reason: str = "ended") -> dict[str, Any]:
    session = _require_session(session_id)
    _require_open(session)
    if who is not None:
        _may_run(session, who)
    return _end(session, who, reason=reason)


def _end(
    session: VideoSession,
    who: Who | None,
    *,
    reason: str,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    now = at or utcnow()
    everyone = [p.key for p in session.participants]
    session.ended_at = now
    session.status = ENDED
    started = session.started_at
    session.duration_seconds = (
        max(0, round((now - started).total_seconds())) if started is not None else 0
    )
    for participant in present(session):
        participant.left_at = now
    by = who.user_id if who is not None else None
    audit(
        "video.session_ended",
        target=target(session),
        details={
            "duration_seconds": session.duration_seconds,
            "participants": len(session.participants),
            "reason": reason,
            "by": by,
        },
        source=SOURCE,
    )
    commit()
    view = session_view(session)
    tell(everyone, "video.ended", {"session_id": session.id, "session": view, "reason": reason})
    emit_domain_event(
        "session.ended",
        domain_payload(session, participants=len(session.participants), ended_by=by),
        source=SOURCE,
    )
    return {"session": view}


def send_back(session_id: int, who: Who) -> dict[str, Any]:
    """Take the patient out of the call and back to the waiting room; the call stays open
    for the clinician, and the patient re-enters it when admitted again."""
    session = _require_session(session_id)
    _require_open(session)
    _may_run(session, who)
    sent = _take_patients_out(session)
    audit(
        "video.sent_back",
        target=target(session),
        details={"entry_id": session.entry_id, "patients": len(sent)},
        source=SOURCE,
    )
    commit()
    _tell_sent_back(session, sent)
    emit_domain_event(
        "session.sent_back",
        {"entry_id": session.entry_id, "session_id": session.id, "by": who.user_id},
        source=SOURCE,
    )
    return {"session": session_view(session), "sent_back": sent}


def _take_patients_out(session: VideoSession) -> list[str]:
    """Mark the patients in the call as gone; the caller audits, commits, then tells."""
    patients = [p for p in present(session) if p.kind == PATIENT]
    now = utcnow()
    for participant in patients:
        participant.left_at = now
    return [p.key for p in patients]


def _tell_sent_back(session: VideoSession, keys: list[str]) -> None:
    tell(
        keys,
        "video.sent_back",
        {"session_id": session.id, "url": session.return_url},
    )
    for key in keys:
        tell(
            [p.key for p in present(session)],
            "video.participant_left",
            {"session_id": session.id, "key": key, "reason": "sent_back"},
        )


def patient_link(session_id: int, who: Who) -> dict[str, Any]:
    """A link that opens the patient side of this session (for tests and ad-hoc calls)."""
    session = _require_session(session_id)
    _require_open(session)
    token = new_patient_token(video_session=session.id)
    audit("video.patient_link_created", target=target(session), source=SOURCE)
    commit()
    return {"url": url_for("video_patient.patient", token=token, _external=True)}


def invite_guest(session_id: int, who: Who) -> dict[str, Any]:
    """A one-time link for a third participant (an interpreter, a family member, ...)."""
    from core.api import create_invite

    session = _require_session(session_id)
    _require_open(session)
    issued = create_invite(
        "guest",
        source=SOURCE,
        provider_id=who.user_id,
        reference=f"video:{session.id}",
        commit=False,
    )
    audit(
        "video.guest_invited",
        target=target(session),
        details={"invite_id": issued.invite.id},
        source=SOURCE,
    )
    commit()
    return {
        "url": url_for("video_patient.guest", token=issued.token, _external=True),
        "expires_at": iso(issued.invite.expires_at),
    }


# --- other plugins' events -------------------------------------------------------------------


def _first_str(payload: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def on_patient_admitted(payload: dict[str, Any]) -> None:
    """The waiting room admitted a patient: have a session ready for the entry."""
    log.info("video: patient.admitted with %s", {k: payload[k] for k in sorted(payload)})
    entry_id = _int(payload.get("entry_id"))
    if entry_id is None:
        log.warning("video: patient.admitted without an entry_id; no session prepared")
        return
    provider_id = _int(payload.get("provider_id")) or _int(payload.get("admitted_by"))
    client_id = _int(payload.get("client_id"))
    if client_id is not None and db_session().get(Client, client_id) is None:
        client_id = None
    sub = _first_str(payload, "patient_sub", "sub", "token_sub")
    return_url = _first_str(payload, "patient_url", "waiting_url", "return_url")
    if return_url is not None and not return_url.startswith(("/", "https://", "http://")):
        return_url = None
    try:
        session = current_session_of_entry(entry_id)
        if session is not None and session.status != ENDED:
            session.client_id = session.client_id or client_id
            session.patient_sub = session.patient_sub or sub
            session.return_url = return_url or session.return_url
            if session.status == OPEN and provider_id and _user_exists(provider_id):
                session.provider_id = provider_id
            commit()
            return
        if provider_id is None or not _user_exists(provider_id):
            log.warning("video: patient.admitted for entry %s names no clinician", entry_id)
            return
        create_session(
            provider_id=provider_id,
            reference=waiting_room_reference(entry_id),
            client_id=client_id,
            patient_sub=sub,
            return_url=return_url,
            via="patient.admitted",
        )
    except Exception:
        db_session().rollback()
        raise


def _user_exists(user_id: int) -> bool:
    return db_session().get(User, user_id) is not None


def on_patient_sent_back(payload: dict[str, Any]) -> None:
    """The waiting room sent the patient back: take them out of the call too."""
    entry_id = _int(payload.get("entry_id"))
    if entry_id is None:
        return
    try:
        session = current_session_of_entry(entry_id)
        if session is None or session.status == ENDED:
            return
        if any(p.kind == PATIENT for p in present(session)):
            sent = _take_patients_out(session)
            audit(
                "video.sent_back",
                target=target(session),
                details={"entry_id": entry_id, "via": "patient.sent_back"},
                source=SOURCE,
            )
            commit()
            _tell_sent_back(session, sent)
    except Exception:
        db_session().rollback()
        raise


def end_stale_sessions(after_seconds: int) -> list[int]:
    """End sessions with no activity (join, leave, chat) for ``after_seconds``; each is
    ended at its last activity, so the recorded duration is what really happened."""
    cutoff = utcnow() - dt.timedelta(seconds=after_seconds)
    ended: list[int] = []
    for session in list(
        db_session().scalars(select(VideoSession).where(VideoSession.status != ENDED))
    ):
        times = [session.created_at, session.started_at]
        for p in session.participants:
            times += [p.joined_at, p.left_at]
        last_line = db_session().scalar(
            select(VideoChatLine.at)
            .where(VideoChatLine.session_id == session.id)
            .order_by(VideoChatLine.id.desc())
            .limit(1)
        )
        times.append(last_line)
        last = max(t for t in times if t is not None)
        if last <= cutoff:
            _end(session, None, reason="stale", at=last)
            ended.append(session.id)
    return ended
