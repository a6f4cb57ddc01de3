"""Video sessions: signalling, chat, ending, re-joining, guest links and the pages.

In-process: staff talk to /staff through Flask-SocketIO's test client on a logged-in Flask
test client; patients and guests to /patient with a patient token as ``auth``. The browser
test (tests/browser/test_video.py) runs a real call between two Chromium contexts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import func, select

from core import tokens
from core.database import db
from core.invites import create_invite
from core.models import AuditEntry, Client
from core.realtime import socketio_of
from core.testing import unchecked_domain_events
from plugins.video import service
from plugins.video.models import VideoChatLine, VideoParticipant, VideoSession
from tests.commit_counter import Commits, count_commits, engine_of
from tests.conftest import csrf_token_from, login

STAFF = "/staff"
PATIENT = "/patient"
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0"}


class Peer:
    """One side of a call: a staff user (logged in) or a patient/guest (token)."""

    def __init__(self, app: Flask, *, username: str | None = None, token: str | None = None):
        self.app = app
        self.http: FlaskClient = app.test_client()
        self.namespace = STAFF if username else PATIENT
        self.username = username
        self.token = token
        if username:
            assert login(self.http, username).status_code == 200
        self.sio = self.connect()

    def connect(self) -> Any:
        auth = {"token": self.token} if self.token else None
        sio = socketio_of(self.app).test_client(
            self.app, namespace=self.namespace, flask_test_client=self.http, auth=auth
        )
        assert sio.is_connected(self.namespace)
        return sio

    def reconnect(self) -> None:
        """A dropped network: the socket goes away and a new one comes."""
        self.sio.disconnect(namespace=self.namespace)
        self.sio = self.connect()

    def call(self, event: str, data: Any = None) -> dict[str, Any]:
        ack = self.sio.emit(event, data, namespace=self.namespace, callback=True)
        assert isinstance(ack, dict), ack
        return ack

    def ok(self, event: str, data: Any = None) -> Any:
        ack = self.call(event, data)
        assert ack.get("ok") is True, (event, data, ack)
        return ack["data"]

    def error(self, event: str, data: Any, code: str) -> dict[str, Any]:
        ack = self.call(event, data)
        assert ack.get("ok") is False, (event, data, ack)
        assert ack["error"]["code"] == code, (event, data, ack)
        assert ack["error"]["message"], ack
        error: dict[str, Any] = ack["error"]
        return error

    def received(self, name: str | None = None) -> list[Any]:
        """What was pushed since the last look (and forget it)."""
        got = self.sio.get_received(self.namespace)
        return [m["args"][0] for m in got if name is None or m["name"] == name]

    def names(self) -> list[str]:
        return [m["name"] for m in self.sio.get_received(self.namespace)]

    def close(self) -> None:
        if self.sio.is_connected(self.namespace):
            self.sio.disconnect(namespace=self.namespace)


@pytest.fixture
def peers(app: Flask) -> Iterator[Callable[..., Peer]]:
    opened: list[Peer] = []

    def make(**kwargs: Any) -> Peer:
        peer = Peer(app, **kwargs)
        opened.append(peer)
        return peer

    yield make
    for peer in opened:
        peer.close()


@pytest.fixture
def domain_events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """The domain events the video plugin emits (still delivered to the other plugins)."""
    seen: list[tuple[str, dict[str, Any]]] = []
    original = service.emit_domain_event

    def spy(name: str, payload: dict[str, Any], *, source: str) -> None:
        assert source == "video"
        seen.append((name, payload))
        original(name, payload, source=source)

    monkeypatch.setattr(service, "emit_domain_event", spy)
    return seen


def user_id(app: Flask, username: str) -> int:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        assert user is not None
        return int(user.id)


def service_name(app: Flask, username: str) -> str:
    with app.app_context():
        return service.user_name(user_id(app, username))


def any_client_id(app: Flask) -> int:
    with app.app_context():
        found = db.session.scalar(select(Client.id).order_by(Client.id).limit(1))
        assert found is not None, "the demo seed has clients"
        return int(found)


def start_session(staff: Peer, client_id: int | None = None) -> int:
    """POST /video/new as a clinician, as the page does; returns the new session's id."""
    form = staff.http.get("/video/new")
    assert form.status_code == 200, form.text[:300]
    response = staff.http.post(
        "/video/new",
        data={"client_id": str(client_id or ""), "csrf_token": csrf_token_from(form.text)},
    )
    assert response.status_code == 302, response.text[:300]
    match = re.search(r"/video/session/(\d+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def patient_token(app: Flask, **claims: Any) -> str:
    with app.app_context():
        return tokens.new_patient_token(**claims)


def sub_of(app: Flask, token: str) -> str:
    with app.app_context():
        claims = tokens.verify_patient_token(token)
    assert claims is not None
    return str(claims["sub"])


def load(app: Flask, session_id: int) -> VideoSession:
    with app.app_context():
        session = db.session.get(VideoSession, session_id)
        assert session is not None
        _ = list(session.participants)
        db.session.expunge_all()
        return session


def participant_rows(app: Flask, session_id: int) -> list[VideoParticipant]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(VideoParticipant)
                .where(VideoParticipant.session_id == session_id)
                .order_by(VideoParticipant.id)
            )
        )
        db.session.expunge_all()
        return rows


def audit_actions(app: Flask, session_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target == f"video_session:{session_id}")
                .order_by(AuditEntry.id)
            )
        )


def in_call(
    app: Flask, peers: Callable[..., Peer], client_id: int | None = None
) -> tuple[Peer, Peer, int]:
    """A clinician and a patient, both joined: the session is live."""
    clinician = peers(username="clinician1")
    session_id = start_session(clinician, client_id)
    clinician.ok("video.join", {"session_id": session_id})
    patient = peers(token=patient_token(app, video_session=session_id))
    patient.ok("video.join", {"session_id": session_id})
    clinician.received()
    patient.received()
    return clinician, patient, session_id


# --- joining ---------------------------------------------------------------------------------


def test_join_lists_the_participants_ice_servers_and_starts_the_session_at_the_second(
    make_app: Callable[..., Flask],
    domain_events: list[tuple[str, dict[str, Any]]],
) -> None:
    app = make_app(
        VIDEO_STUN_URLS=["stun:stun.example.org:3478"],
        VIDEO_TURN_URLS=["turn:turn.example.org:3478?transport=udp"],
        VIDEO_TURN_USERNAME="practice",
        VIDEO_TURN_CREDENTIAL="s3cret",
    )
    opened: list[Peer] = []
    try:
        clinician = Peer(app, username="clinician1")
        opened.append(clinician)
        client_id = any_client_id(app)
        session_id = start_session(clinician, client_id)
        me = f"staff:{user_id(app, 'clinician1')}"

        first = clinician.ok("video.join", {"session_id": session_id})
        assert first["me"]["key"] == me and first["me"]["kind"] == "staff"
        assert [p["key"] for p in first["participants"]] == [me]
        assert first["session"]["status"] == "open" and first["session"]["started_at"] is None
        assert first["ice_servers"] == [
            {"urls": ["stun:stun.example.org:3478"]},
            {
                "urls": ["turn:turn.example.org:3478?transport=udp"],
                "username": "practice",
                "credential": "s3cret",
            },
        ]
        assert first["chat"] == [] and first["rejoined"] is False
        assert domain_events == []

        token = patient_token(app, video_session=session_id)
        patient = Peer(app, token=token)
        opened.append(patient)
        second = patient.ok("video.join", {"session_id": session_id})
        patient_key = f"patient:{sub_of(app, token)}"
        assert second["me"]["key"] == patient_key
        assert [p["key"] for p in second["participants"]] == [me, patient_key]
        assert second["session"]["status"] == "live" and second["session"]["started_at"]
        with app.app_context():
            client = db.session.get(Client, client_id)
            assert client is not None
            assert second["me"]["display_name"] == f"{client.first_name} {client.last_name[0]}."

        joined = clinician.received("video.participant_joined")
        assert [j["participant"]["key"] for j in joined] == [patient_key]
        session = load(app, session_id)
        assert session.status == "live" and session.started_at is not None
        assert session.patient_sub == sub_of(app, token)
        assert [name for name, _ in domain_events] == ["session.started"]
        assert domain_events[0][1]["session_id"] == session_id
        assert domain_events[0][1]["client_id"] == client_id
        assert audit_actions(app, session_id) == [
            "video.session_created",
            "video.joined",
            "video.joined",
            "video.session_started",
        ]
    finally:
        for peer in opened:
            peer.close()


def test_a_patient_enters_only_the_session_their_token_opens(
    app: Flask, peers: Callable[..., Peer]
) -> None:
    clinician = peers(username="clinician1")
    mine, other = start_session(clinician), start_session(clinician)
    patient = peers(token=patient_token(app, video_session=mine))
    patient.error("video.join", {"session_id": other}, "forbidden")
    patient.error("video.join", {"session_id": 999999}, "not_found")
    stranger = peers(token=patient_token(app, kind="test"))  # a token for no session
    stranger.error("video.join", {"session_id": mine}, "forbidden")
    assert [p.key for p in participant_rows(app, mine)] == []
    # Staff without the call permission are refused by the host before the handler.
    frontdesk = peers(username="frontdesk")
    frontdesk.error("video.join", {"session_id": mine}, "forbidden")
    # The staff-only controls do not exist on the patient namespace.
    for event in ("video.end", "video.send_back", "video.patient_link", "video.invite_guest"):
        patient.error(event, {"session_id": mine}, "unknown_event")


# --- signalling ----------------------------------------------------------------------------


def test_signals_reach_only_participants_of_the_same_live_session(
    app: Flask, peers: Callable[..., Peer]
) -> None:
    clinician, patient, session_id = in_call(app, peers)
    staff_key = f"staff:{user_id(app, 'clinician1')}"
    patient_key = f"patient:{sub_of(app, patient.token or '')}"

    clinician.ok(
        "video.signal",
        {"session_id": session_id, "to": patient_key, "description": OFFER, "pc": "pc-staff-1"},
    )
    got = patient.received("video.signal")
    assert got == [
        {
            "session_id": session_id,
            "from": staff_key,
            "from_name": service_name(app, "clinician1"),
            "pc": "pc-staff-1",
            "description": OFFER,
        }
    ]
    patient.ok("video.signal", {"session_id": session_id, "to": staff_key, "candidate": CANDIDATE})
    back = clinician.received("video.signal")
    assert len(back) == 1 and back[0]["from"] == patient_key
    assert back[0]["candidate"]["candidate"] == CANDIDATE["candidate"]
    assert back[0]["candidate"]["sdpMid"] == "0"

    # An outsider: a patient of another session, and a clinician who did not join.
    other_session = start_session(clinician)
    outsider = peers(token=patient_token(app, video_session=other_session))
    outsider.ok("video.join", {"session_id": other_session})
    outsider.error(
        "video.signal",
        {"session_id": session_id, "to": staff_key, "description": OFFER},
        "not_participant",
    )
    outsider.error(
        "video.signal",
        {"session_id": other_session, "to": staff_key, "description": OFFER},
        "not_participant",
    )
    colleague = peers(username="clinician2")
    colleague.error(
        "video.signal",
        {"session_id": session_id, "to": patient_key, "candidate": CANDIDATE},
        "not_participant",
    )
    # Nor to yourself, nor to someone who is not there.
    clinician.error(
        "video.signal",
        {"session_id": session_id, "to": staff_key, "description": OFFER},
        "not_participant",
    )
    clinician.error(
        "video.signal",
        {"session_id": session_id, "to": "patient:nobody", "description": OFFER},
        "not_participant",
    )
    assert patient.received("video.signal") == []
    assert clinician.received("video.signal") == []

    # A session with one person in it is not live: nothing to signal.
    alone = start_session(clinician)
    clinician.ok("video.join", {"session_id": alone})
    clinician.error(
        "video.signal",
        {"session_id": alone, "to": patient_key, "description": OFFER},
        "not_participant",
    )
    # Someone who left is no longer reachable.
    patient.ok("video.leave", {"session_id": session_id})
    left = clinician.received("video.participant_left")
    assert left == [{"session_id": session_id, "key": patient_key, "reason": "left"}]
    clinician.error(
        "video.signal",
        {"session_id": session_id, "to": patient_key, "description": OFFER},
        "not_participant",
    )
    assert patient.received("video.signal") == []


# --- chat -------------------------------------------------------------------------------


def test_chat_is_persisted_pushed_to_everyone_and_replayed_on_join(
    app: Flask, peers: Callable[..., Peer]
) -> None:
    clinician, patient, session_id = in_call(app, peers)
    line = patient.ok("video.chat", {"session_id": session_id, "body": "  Can you hear me?  "})
    assert line["body"] == "Can you hear me?" and line["sender_kind"] == "patient"
    assert clinician.received("video.chat") == [line]
    assert patient.received("video.chat") == [line]
    reply = clinician.ok("video.chat", {"session_id": session_id, "body": "Yes, loud and clear."})
    assert reply["sender_kind"] == "staff"
    assert patient.received("video.chat") == [reply]

    with app.app_context():
        rows = list(
            db.session.scalars(select(VideoChatLine).where(VideoChatLine.session_id == session_id))
        )
        assert [(r.sender_kind, r.body) for r in rows] == [
            ("patient", "Can you hear me?"),
            ("staff", "Yes, loud and clear."),
        ]
        # The audit log records that a line was sent, never its text.
        details = db.session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "video.chat_sent")
        ).all()
        assert len(details) == 2 and all("Can you" not in str(d) for d in details)

    again = clinician.ok("video.join", {"session_id": session_id})
    assert [c["body"] for c in again["chat"]] == ["Can you hear me?", "Yes, loud and clear."]

    # Outsiders cannot write into it.
    colleague = peers(username="clinician2")
    colleague.error("video.chat", {"session_id": session_id, "body": "hi"}, "not_participant")
    clinician.error("video.chat", {"session_id": session_id, "body": "x" * 1001}, "invalid")
    clinician.error("video.chat", {"session_id": session_id, "body": "   "}, "invalid")


# --- ending ---------------------------------------------------------------------------------


def test_ending_records_the_duration_and_tells_everyone(
    app: Flask,
    peers: Callable[..., Peer],
    domain_events: list[tuple[str, dict[str, Any]]],
) -> None:
    clinician, patient, session_id = in_call(app, peers, client_id=any_client_id(app))
    with app.app_context():  # as if the call had run for 95 seconds
        session = db.session.get(VideoSession, session_id)
        assert session is not None and session.started_at is not None
        session.started_at -= dt.timedelta(seconds=95)
        db.session.commit()
    domain_events.clear()

    patient.error("video.end", {"session_id": session_id}, "unknown_event")
    done = clinician.ok("video.end", {"session_id": session_id})
    assert done["session"]["status"] == "ended"
    assert 95 <= done["session"]["duration_seconds"] <= 100

    told = patient.received("video.ended")
    assert len(told) == 1 and told[0]["session_id"] == session_id
    assert told[0]["session"]["duration_seconds"] == done["session"]["duration_seconds"]
    assert len(clinician.received("video.ended")) == 1

    session = load(app, session_id)
    assert session.status == "ended" and session.ended_at is not None
    assert session.started_at is not None and session.ended_at > session.started_at
    assert session.duration_seconds == done["session"]["duration_seconds"]
    assert all(p.left_at == session.ended_at for p in session.participants)

    assert [name for name, _ in domain_events] == ["session.ended"]
    payload = domain_events[0][1]
    assert payload["session_id"] == session_id
    assert payload["duration_seconds"] == session.duration_seconds
    assert payload["participants"] == 2 and payload["ended_by"] == user_id(app, "clinician1")
    assert "video.session_ended" in audit_actions(app, session_id)

    # An ended session stays ended.
    clinician.error("video.join", {"session_id": session_id}, "ended")
    patient.error("video.join", {"session_id": session_id}, "ended")
    patient.error("video.chat", {"session_id": session_id, "body": "hello?"}, "ended")
    clinician.error("video.end", {"session_id": session_id}, "ended")
    page = app.test_client().get(f"/video/p/{patient.token}")
    assert page.status_code == 410 and "has ended" in page.text


def test_only_a_clinician_in_the_session_may_end_it(app: Flask, peers: Callable[..., Peer]) -> None:
    _clinician, _patient, session_id = in_call(app, peers)
    colleague = peers(username="clinician2")
    colleague.error("video.end", {"session_id": session_id}, "forbidden")
    colleague.error("video.send_back", {"session_id": session_id}, "forbidden")
    assert load(app, session_id).status == "live"


# --- reconnecting ---------------------------------------------------------------------------


def test_a_rejoin_after_a_dropped_network_keeps_one_participant_row_and_the_session_live(
    app: Flask, peers: Callable[..., Peer]
) -> None:
    clinician, patient, session_id = in_call(app, peers)
    before = participant_rows(app, session_id)
    assert len(before) == 2
    started_at = load(app, session_id).started_at

    patient.reconnect()  # no video.leave: the network just went away
    again = patient.ok("video.join", {"session_id": session_id})
    assert again["rejoined"] is True
    assert again["session"]["status"] == "live"
    assert [p["key"] for p in again["participants"]] == [p.key for p in before]
    rejoined = clinician.received("video.participant_joined")
    assert [r["participant"]["key"] for r in rejoined] == [before[1].key]

    clinician.reconnect()
    assert clinician.ok("video.join", {"session_id": session_id})["rejoined"] is True

    # A page that said goodbye and came back (a reload) reuses its row too.
    patient.ok("video.leave", {"session_id": session_id})
    assert participant_rows(app, session_id)[1].left_at is not None
    patient.ok("video.join", {"session_id": session_id})

    after = participant_rows(app, session_id)
    assert [(p.id, p.key) for p in after] == [(p.id, p.key) for p in before]
    assert all(p.left_at is None for p in after)
    session = load(app, session_id)
    assert session.status == "live" and session.started_at == started_at
    # And signalling works on the new sockets.
    clinician.received()
    clinician.ok(
        "video.signal", {"session_id": session_id, "to": before[1].key, "description": OFFER}
    )
    assert len(patient.received("video.signal")) == 1
    assert "video.rejoined" in audit_actions(app, session_id)


def test_a_dropped_socket_tells_the_others_at_once_unless_they_are_back_already(
    app: Flask, peers: Callable[..., Peer]
) -> None:
    clinician, patient, session_id = in_call(app, peers)
    patient_key = participant_rows(app, session_id)[1].key

    # Back on a new socket (another window, a fast reconnect) before the old one is noticed
    # gone: the old socket's drop is no drop.
    again = peers(token=patient.token)
    again.ok("video.join", {"session_id": session_id})
    clinician.received()
    patient.close()
    assert clinician.received("video.participant_left") == []
    assert participant_rows(app, session_id)[1].left_at is None

    # The socket they are in the call through drops: the clinician is told at once.
    again.close()
    [left] = clinician.received("video.participant_left")
    assert left == {"session_id": session_id, "key": patient_key, "reason": "dropped"}
    assert participant_rows(app, session_id)[1].left_at is not None
    assert "video.dropped" in audit_actions(app, session_id)

    back = peers(token=patient.token)
    assert back.ok("video.join", {"session_id": session_id})["rejoined"] is True
    [joined] = clinician.received("video.participant_joined")
    assert joined["participant"]["key"] == patient_key
    assert load(app, session_id).status == "live"

    # Once the session has ended, pages closing are no news.
    clinician.ok("video.end", {"session_id": session_id})
    clinician.received()
    back.close()
    assert clinician.received("video.participant_left") == []


# --- guests ----------------------------------------------------------------------------------


def test_a_guest_link_works_once(app: Flask, peers: Callable[..., Peer]) -> None:
    clinician, _patient, session_id = in_call(app, peers)
    invite = clinician.ok("video.invite_guest", {"session_id": session_id})
    path = invite["url"].split("://", 1)[1].split("/", 1)[1]
    assert re.fullmatch(r"video/g/[A-Za-z0-9_-]{30,}", path), invite["url"]

    guest_browser = app.test_client()
    form = guest_browser.get("/" + path)
    assert form.status_code == 200 and 'id="video-guest-name"' in form.text
    csrf = csrf_token_from(form.text)
    empty = guest_browser.post("/" + path, data={"name": "  ", "csrf_token": csrf})
    assert empty.status_code == 400 and "enter your name" in empty.text
    joined = guest_browser.post("/" + path, data={"name": "Ana  Interpreter", "csrf_token": csrf})
    assert joined.status_code == 302
    location = joined.headers["Location"]
    assert "/video/p/" in location

    # The link is spent: neither the form nor another name gets in.
    assert guest_browser.get("/" + path).status_code == 404
    again = guest_browser.post("/" + path, data={"name": "Mallory", "csrf_token": csrf})
    assert again.status_code == 404

    page = guest_browser.get(location)
    assert page.status_code == 200 and "Ana Interpreter" in page.text
    token = location.rsplit("/", 1)[1]
    guest = peers(token=token)
    data = guest.ok("video.join", {"session_id": session_id})
    assert data["me"]["kind"] == "guest" and data["me"]["display_name"] == "Ana Interpreter"
    assert data["me"]["key"] == f"guest:{sub_of(app, token)}"
    assert len([p for p in data["participants"] if p["present"]]) == 3
    assert len(participant_rows(app, session_id)) == 3
    # The guest can be reached like anyone else in the call.
    clinician.received()
    clinician.ok(
        "video.signal", {"session_id": session_id, "to": data["me"]["key"], "description": OFFER}
    )
    assert len(guest.received("video.signal")) == 1


def test_a_patient_link_opens_the_patient_page(app: Flask, peers: Callable[..., Peer]) -> None:
    clinician = peers(username="clinician1")
    session_id = start_session(clinician)
    link = clinician.ok("video.patient_link", {"session_id": session_id})["url"]
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    page = app.test_client().get(path)
    assert page.status_code == 200
    assert 'id="video-state"' in page.text and 'data-role="patient"' in page.text
    assert "Content-Security-Policy" in page.headers
    assert "onclick" not in page.text


# --- bad input and bad links ----------------------------------------------------------------


def test_bad_payloads_are_answered_invalid_and_keep_the_socket(
    app: Flask, peers: Callable[..., Peer]
) -> None:
    clinician, patient, session_id = in_call(app, peers)
    patient_key = f"patient:{sub_of(app, patient.token or '')}"
    bad: list[tuple[str, Any]] = [
        ("video.join", {}),
        ("video.join", None),
        ("video.join", {"session_id": "1"}),
        ("video.join", {"session_id": 0}),
        ("video.join", {"session_id": True}),
        ("video.join", [session_id]),
        ("video.join", {"session_id": session_id, "extra": 1}),
        ("video.signal", {"session_id": session_id, "to": patient_key}),
        (
            "video.signal",
            {
                "session_id": session_id,
                "to": patient_key,
                "description": OFFER,
                "candidate": CANDIDATE,
            },
        ),
        (
            "video.signal",
            {"session_id": session_id, "to": patient_key, "description": {"type": "bogus"}},
        ),
        (
            "video.signal",
            {"session_id": session_id, "to": patient_key, "description": "v=0"},
        ),
        (
            "video.signal",
            {
                "session_id": session_id,
                "to": patient_key,
                "description": {"type": "offer", "sdp": "x" * 100_001},
            },
        ),
        (
            "video.signal",
            {"session_id": session_id, "to": patient_key, "description": OFFER, "pc": "<x>"},
        ),
        ("video.chat", {"session_id": session_id}),
        ("video.chat", {"session_id": session_id, "body": 42}),
        ("video.end", {"session_id": "all"}),
    ]
    for event, payload in bad:
        clinician.error(event, payload, "invalid")
    for event, payload in bad[:4]:
        patient.error(event, payload, "invalid")
    assert clinician.sio.is_connected(STAFF) and patient.sio.is_connected(PATIENT)
    assert patient.received("video.signal") == []
    assert load(app, session_id).status == "live"
    clinician.ok("video.chat", {"session_id": session_id, "body": "still here"})


def test_bad_or_stale_links_get_a_friendly_404(app: Flask, peers: Callable[..., Peer]) -> None:
    clinician = peers(username="clinician1")
    session_id = start_session(clinician)
    anonymous = app.test_client()
    with app.app_context():
        from itsdangerous import URLSafeTimedSerializer

        forged = URLSafeTimedSerializer("another-key", salt="backoffice.patient").dumps(
            {"sub": "x" * 22, "video_session": session_id}
        )
        no_session = tokens.new_patient_token(kind="test")
        missing = tokens.new_patient_token(video_session=999999)
        not_a_guest_invite = create_invite("quickvite", source="test").token
    for path in (
        "/video/p/not-a-token",
        f"/video/p/{forged}",
        f"/video/p/{no_session}",
        f"/video/p/{missing}",
        "/video/g/not-a-token-at-all-but-long-enough",
        "/video/g/x",
        f"/video/g/{not_a_guest_invite}",
    ):
        response = anonymous.get(path)
        assert response.status_code == 404, path
        assert "We could not open this session" in response.text, path
        assert "Traceback" not in response.text
    with app.app_context():
        expired = tokens.new_patient_token(video_session=session_id)
    app.config["PATIENT_TOKEN_MAX_AGE"] = -1
    assert anonymous.get(f"/video/p/{expired}").status_code == 404
    app.config["PATIENT_TOKEN_MAX_AGE"] = 3600

    # A waiting-room token whose session is not open yet: a page that checks again.
    waiting = patient_token(app, entry=424242)
    page = anonymous.get(f"/video/p/{waiting}")
    assert page.status_code == 200 and 'http-equiv="refresh"' in page.text

    # Staff: an unknown session is a 404 page too, not an error.
    missing_page = clinician.http.get("/video/session/999999")
    assert missing_page.status_code == 404 and 'id="video-message"' in missing_page.text
    # And /video/new refuses a client that does not exist.
    form = clinician.http.get("/video/new")
    refused = clinician.http.post(
        "/video/new", data={"client_id": "999999", "csrf_token": csrf_token_from(form.text)}
    )
    assert refused.status_code == 400


# --- the waiting room -------------------------------------------------------------------------


def test_an_admitted_patient_gets_a_session_and_can_be_sent_back(
    app: Flask,
    peers: Callable[..., Peer],
    domain_events: list[tuple[str, dict[str, Any]]],
) -> None:
    from core.api import emit_domain_event

    provider = user_id(app, "clinician1")
    client_id = any_client_id(app)
    with app.test_request_context(), unchecked_domain_events(app):  # partial payloads
        emit_domain_event(
            "patient.admitted",
            {
                "entry_id": 4711,
                "provider_id": provider,
                "client_id": client_id,
                "status": "admitted",
                "admitted_by": provider,
                "session_url": "/video/entry/4711",
            },
            source="test",
        )
        # Admitting again (e.g. after a send back) finds the same session.
        emit_domain_event("patient.admitted", {"entry_id": 4711}, source="test")
        emit_domain_event("patient.admitted", {"no": "entry"}, source="test")  # tolerated
    with app.app_context():
        sessions = list(
            db.session.scalars(
                select(VideoSession).where(VideoSession.reference == "waiting_room:4711")
            )
        )
        assert [(s.provider_id, s.client_id, s.status) for s in sessions] == [
            (provider, client_id, "open")
        ]
        session_id = sessions[0].id

    clinician = peers(username="clinician1")
    opened = clinician.http.get("/video/entry/4711")
    assert opened.status_code == 302
    assert opened.headers["Location"].endswith(f"/video/session/{session_id}")
    page = clinician.http.get(f"/video/session/{session_id}")
    assert page.status_code == 200 and 'id="video-state"' in page.text
    assert 'data-entry-id="4711"' in page.text
    clinician.ok("video.join", {"session_id": session_id})

    # The waiting room's own token (claim entry=<id>) opens the entry's session.
    token = patient_token(app, entry=4711, invite=None)
    assert app.test_client().get(f"/video/p/{token}").status_code == 200
    patient = peers(token=token)
    patient.ok("video.join", {"session_id": session_id})
    clinician.received()
    domain_events.clear()

    result = clinician.ok("video.send_back", {"session_id": session_id})
    assert result["sent_back"] == [f"patient:{sub_of(app, token)}"]
    assert patient.received("video.sent_back") == [{"session_id": session_id, "url": None}]
    assert clinician.received("video.participant_left")[0]["reason"] == "sent_back"
    assert domain_events == [
        ("session.sent_back", {"entry_id": 4711, "session_id": session_id, "by": provider})
    ]
    session = load(app, session_id)
    assert session.status == "live"  # the clinician stays; the patient comes back later
    # Re-admitted, the patient re-enters the same session.
    patient.ok("video.join", {"session_id": session_id})
    assert len(participant_rows(app, session_id)) == 2

    # The waiting room sending them back (its own button) takes them out of the call too.
    with app.test_request_context(), unchecked_domain_events(app):
        emit_domain_event("patient.sent_back", {"entry_id": 4711}, source="test")
    assert len(patient.received("video.sent_back")) == 1

    # An unknown entry opened by a clinician gets a fresh session (nothing is lost).
    fresh = clinician.http.get("/video/entry/5000")
    assert fresh.status_code == 302
    with app.app_context():
        count = db.session.scalar(
            select(func.count(VideoSession.id)).where(VideoSession.reference == "waiting_room:5000")
        )
        assert count == 1


def test_turn_credentials_from_a_shared_secret_expire(make_app: Callable[..., Flask]) -> None:
    app = make_app(
        VIDEO_TURN_URLS="turns:turn.example.org:5349",
        VIDEO_TURN_SECRET="coturn-secret",
        VIDEO_TURN_TTL=600,
    )
    with app.app_context():
        servers = service.ice_servers()
    assert len(servers) == 1 and servers[0]["urls"] == ["turns:turn.example.org:5349"]
    expires = int(servers[0]["username"].split(":")[0])
    assert 0 < expires - dt.datetime.now(dt.UTC).timestamp() <= 601
    assert servers[0]["credential"]
    with app.app_context():
        app.config["VIDEO_TURN_URLS"] = ["https://not-a-turn-server"]
        with pytest.raises(ValueError):
            service.ice_servers()


def test_a_practice_admin_sets_the_turn_server_in_settings(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    admin = app.test_client()
    login(admin, "practiceadmin")
    form = admin.get("/settings/practice/").text
    assert 'data-key="VIDEO_TURN_URLS"' in form and 'data-key="VIDEO_TURN_SECRET"' in form
    refused = admin.post("/settings/practice/", data={"VIDEO_TURN_URLS": "https://relay.example"})
    assert refused.status_code == 400 and "TURN servers:" in refused.text
    assert "must start with one of stun:" in refused.text

    turn = "turns:turn.example.org:5349\nturn:turn.example.org:3478?transport=udp"
    saved = admin.post(
        "/settings/practice/",
        data={
            "VIDEO_TURN_URLS": turn,
            "VIDEO_TURN_SECRET": "coturn-secret",
            "VIDEO_TURN_TTL": "900",
        },
    )
    assert saved.status_code == 303
    with app.test_request_context():
        (relay,) = service.ice_servers_for_a_call()
    assert relay["urls"] == turn.split("\n") and relay["credential"]
    assert int(relay["username"].split(":")[0]) - dt.datetime.now(dt.UTC).timestamp() <= 901
    shown = admin.get("/settings/practice/").text
    assert "coturn-secret" not in shown and "turns:turn.example.org:5349" in shown

    # Half a TURN setup (no secret, no password): the call still connects, the log says why.
    admin.post(
        "/settings/practice/", data={"VIDEO_TURN_SECRET": "", "VIDEO_TURN_SECRET__clear": "1"}
    )
    with app.test_request_context():
        assert service.ice_servers_for_a_call() == []
    assert "STUN/TURN settings are unusable" in caplog.text


def test_the_session_list_shows_times_duration_and_participants(
    app: Flask, peers: Callable[..., Peer]
) -> None:
    clinician, _patient, session_id = in_call(app, peers, client_id=any_client_id(app))
    clinician.ok("video.end", {"session_id": session_id})
    listing = clinician.http.get("/video/sessions/list/")
    assert listing.status_code == 200
    assert "Participants" in listing.text and "(patient)" in listing.text
    frontdesk = app.test_client()
    login(frontdesk, "frontdesk")
    assert frontdesk.get("/video/sessions/list/").status_code == 200
    assert frontdesk.get(f"/video/session/{session_id}").status_code in {302, 403}  # no call
    assert frontdesk.get(f"/video/sessions/show/{session_id}").status_code == 200


def test_the_session_list_shows_practice_times_to_the_minute_and_the_patients_name(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(PRACTICE_TIMEZONE="America/New_York")
    client_id = any_client_id(app)
    with app.app_context():
        chart = db.session.get(Client, client_id)
        assert chart is not None
        full_name = chart.full_name
    clinician = Peer(app, username="clinician1")
    try:
        charted = start_session(clinician, client_id)
        walk_in = start_session(clinician)  # a waiting-room visitor with no chart
        for session_id in (charted, walk_in):
            clinician.ok("video.join", {"session_id": session_id})
            patient = Peer(app, token=patient_token(app, video_session=session_id))
            patient.ok("video.join", {"session_id": session_id})
            clinician.ok("video.end", {"session_id": session_id})
            patient.close()
        started = load(app, charted).started_at
        assert started is not None
        listing = clinician.http.get("/video/sessions/list/").text
    finally:
        clinician.close()
    local = started.replace(tzinfo=dt.UTC).astimezone(ZoneInfo("America/New_York"))
    assert local.strftime("%Y-%m-%d %H:%M %Z") in listing
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", listing)  # no raw microseconds
    assert full_name in listing
    # The walk-in's row names the patient who took part, never "None".
    assert not re.search(r">\s*None\s*<", listing)


def test_a_reference_gets_one_open_session_and_stale_sessions_end_at_their_last_activity(
    app: Flask, peers: Callable[..., Peer]
) -> None:
    clinician = peers(username="clinician1")
    form = clinician.http.get("/video/new?reference=appointment:12")
    assert 'name="reference" value="appointment:12"' in form.text
    token = csrf_token_from(form.text)
    first = clinician.http.post(
        "/video/new", data={"reference": "appointment:12", "csrf_token": token}
    )
    again = clinician.http.post(
        "/video/new", data={"reference": "appointment:12", "csrf_token": token}
    )
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"] == again.headers["Location"]
    bad = clinician.http.post("/video/new", data={"reference": "<script>", "csrf_token": token})
    assert bad.status_code == 400
    session_id = int(first.headers["Location"].rsplit("/", 1)[1])

    clinician.ok("video.join", {"session_id": session_id})
    patient = peers(token=patient_token(app, video_session=session_id))
    patient.ok("video.join", {"session_id": session_id})
    with app.app_context():  # everyone vanished two hours ago without ending the call
        session = db.session.get(VideoSession, session_id)
        assert session is not None and session.started_at is not None
        shift = dt.timedelta(hours=2)
        session.created_at -= shift
        session.started_at -= shift
        for participant in session.participants:
            participant.joined_at -= shift
        db.session.commit()
        last = max(p.joined_at for p in session.participants)
        assert service.end_stale_sessions(3600) == [session_id]
        assert service.end_stale_sessions(3600) == []
        db.session.expire_all()
        ended = db.session.get(VideoSession, session_id)
        assert ended is not None and ended.status == "ended" and ended.ended_at == last
        assert ended.duration_seconds == round((last - ended.started_at).total_seconds())
    assert len(patient.received("video.ended")) == 1


# --- one commit per request or event ---------------------------------------------------------


def spy_on_announcements(monkeypatch: pytest.MonkeyPatch, commits: Commits) -> None:
    """Note how many commits had gone when the call told someone or other plugins."""
    monkeypatch.setattr(service, "notify", commits.spy("notify"))
    monkeypatch.setattr(service, "emit_domain_event", commits.spy("event"))


def told_after(commits: Commits, count: int = 1) -> list[str]:
    """The names of the spied-on calls, each checked to come after ``count`` commits."""
    assert commits.calls, "nobody was told"
    assert all(seen == count for _name, seen in commits.calls), commits.calls
    return [name for name, _seen in commits.calls]


def test_starting_and_viewing_a_session_are_one_commit_each(
    app: Flask, peers: Callable[..., Peer]
) -> None:
    clinician = peers(username="clinician1")
    with count_commits(engine_of(app)) as starting:
        session_id = start_session(clinician)  # the form, then its POST
    assert starting.count == 1
    with count_commits(engine_of(app)) as viewing:
        assert clinician.http.get(f"/video/session/{session_id}").status_code == 200
    assert viewing.count == 1
    assert audit_actions(app, session_id) == ["video.session_created", "video.session_viewed"]


def test_the_join_that_starts_a_session_is_one_commit_announced_after_it(
    app: Flask, peers: Callable[..., Peer], monkeypatch: pytest.MonkeyPatch
) -> None:
    clinician = peers(username="clinician1")
    session_id = start_session(clinician)
    clinician.ok("video.join", {"session_id": session_id})
    patient = peers(token=patient_token(app, video_session=session_id))
    with count_commits(engine_of(app)) as commits:
        spy_on_announcements(monkeypatch, commits)
        patient.ok("video.join", {"session_id": session_id})
    assert commits.count == 1
    assert told_after(commits).count("event") == 1  # session.started
    assert audit_actions(app, session_id)[-2:] == ["video.joined", "video.session_started"]


def test_chat_and_ending_are_one_commit_each_announced_after_it(
    app: Flask, peers: Callable[..., Peer], monkeypatch: pytest.MonkeyPatch
) -> None:
    clinician, patient, session_id = in_call(app, peers)
    with count_commits(engine_of(app)) as chatting:
        spy_on_announcements(monkeypatch, chatting)
        patient.ok("video.chat", {"session_id": session_id, "body": "Can you hear me?"})
    assert chatting.count == 1 and told_after(chatting) == ["notify", "notify"]

    with count_commits(engine_of(app)) as ending:
        spy_on_announcements(monkeypatch, ending)
        clinician.ok("video.end", {"session_id": session_id})
    assert ending.count == 1 and told_after(ending) == ["notify", "notify", "event"]
    assert audit_actions(app, session_id)[-2:] == ["video.chat_sent", "video.session_ended"]


def test_a_dropped_socket_is_one_commit_told_after_it(
    app: Flask, peers: Callable[..., Peer], monkeypatch: pytest.MonkeyPatch
) -> None:
    _clinician, patient, session_id = in_call(app, peers)
    with count_commits(engine_of(app)) as commits:
        spy_on_announcements(monkeypatch, commits)
        patient.close()
    assert commits.count == 1 and told_after(commits) == ["notify"]
    assert audit_actions(app, session_id)[-1] == "video.dropped"


def test_a_guest_invite_and_the_guest_arriving_are_one_commit_each(
    app: Flask, peers: Callable[..., Peer]
) -> None:
    clinician, _patient, session_id = in_call(app, peers)
    with count_commits(engine_of(app)) as inviting:
        invite = clinician.ok("video.invite_guest", {"session_id": session_id})
    assert inviting.count == 1
    path = "/" + invite["url"].split("://", 1)[1].split("/", 1)[1]
    guest_browser = app.test_client()
    form = guest_browser.get(path)
    assert form.status_code == 200
    with count_commits(engine_of(app)) as arriving:
        arrived = guest_browser.post(
            path, data={"name": "Ana", "csrf_token": csrf_token_from(form.text)}
        )
    assert arrived.status_code == 302 and arriving.count == 1
    assert audit_actions(app, session_id)[-2:] == ["video.guest_invited", "video.guest_arrived"]
    with app.app_context():
        invite_audits = list(
            db.session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.startswith("invite."), AuditEntry.source == "video")
                .order_by(AuditEntry.id)
            )
        )
    assert invite_audits == ["invite.created", "invite.revoked"]
