"""The waiting room in-process: joining, the staff actions, presence, alerts and events.

Flask's test client drives the patient pages; Flask-SocketIO's test clients stand in for the
staff dashboard (``/staff``) and the patient page (``/patient``). Every test runs on SQLite
and, when configured, PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.api import create_invite, emit_domain_event, revoke_invite
from core.database import db
from core.models import AuditEntry, Client
from core.realtime import socketio_of
from core.testing import unchecked_domain_events
from core.types import DomainEvent
from plugins.waiting_room.models import WaitingEntry, WaitingMessage, WaitingSocket, utcnow
from tests.conftest import login

STAFF = "/staff"
PATIENT = "/patient"
DEMO_ENTRIES = 2  # backoffice_seed_demo: two patients waiting for clinician1
# The demo patients were seeded minutes before a long test session reaches a test: no
# long-wait alerts unless a test asks for them.
QUIET = {"WAITING_ROOM_ALERT_PROVIDER_AFTER": 86_400, "WAITING_ROOM_ALERT_PRACTICE_AFTER": 86_400}


def csrf_of(html: str) -> str:
    match = re.search(r'data-csrf="([^"]+)"', html)
    assert match, "no CSRF token on the patient page"
    return match.group(1)


def ack_ok(ack: Any) -> Any:
    assert isinstance(ack, dict) and ack.get("ok") is True, ack
    return ack["data"]


def ack_error(ack: Any, code: str) -> dict[str, Any]:
    assert isinstance(ack, dict) and ack.get("ok") is False, ack
    assert ack["error"]["code"] == code, ack
    assert ack["error"]["message"], ack
    error: dict[str, Any] = ack["error"]
    return error


@dataclass
class Socket:
    """A Socket.IO test client on one namespace."""

    sio: SocketIOTestClient
    namespace: str

    def call(self, event: str, data: Any = None) -> Any:
        return self.sio.emit(
            event, {} if data is None else data, namespace=self.namespace, callback=True
        )

    def received(self, name: str | None = None) -> list[Any]:
        """Everything received since the last call (or only ``name`` events' data)."""
        got = self.sio.get_received(self.namespace)
        return [m["args"][0] for m in got if name is None or m["name"] == name]


@dataclass
class Room:
    """The waiting room of one test app, seen from the outside."""

    app: Flask
    events: list[DomainEvent] = field(default_factory=list)

    def user_id(self, username: str) -> int:
        with self.app.app_context():
            return int(self.app.extensions["appbuilder"].sm.find_user(username=username).id)

    def client_id(self, first_name: str) -> int:
        with self.app.app_context():
            return int(db.session.scalar(select(Client.id).where(Client.first_name == first_name)))

    def invite(
        self,
        kind: str = "quickvite",
        *,
        client: str | None = None,
        provider: str | None = "clinician1",
        reference: str | None = None,
    ) -> str:
        client_id = self.client_id(client) if client else None
        provider_id = self.user_id(provider) if provider else None
        with self.app.test_request_context():
            issued = create_invite(
                kind,
                source="tests",
                client_id=client_id,
                provider_id=provider_id,
                reference=reference,
            )
            assert issued.url.endswith(f"/join/{issued.token}")
            return issued.token

    def join(self, path: str, http: FlaskClient | None = None, **body: Any) -> Any:
        """Open the patient page at ``path`` and check in; the JSON response."""
        http = http or self.app.test_client()
        page = http.get(path)
        assert page.status_code == 200, page.text[:300]
        response = http.post(
            path + "/enter",
            json={"name": "Pat Doe", **body},
            headers={"X-CSRFToken": csrf_of(page.text)},
        )
        return response

    def check_in(self, path: str, **body: Any) -> dict[str, Any]:
        response = self.join(path, **body)
        assert response.status_code in {200, 201}, response.text
        data: dict[str, Any] = response.get_json()
        return data

    def staff(self, username: str) -> Socket:
        http = self.app.test_client()
        login(http, username)
        sio = socketio_of(self.app).test_client(self.app, namespace=STAFF, flask_test_client=http)
        assert sio.is_connected(STAFF), username
        socket = Socket(sio, STAFF)
        ack_ok(socket.call("waiting_room.snapshot"))
        socket.received()
        return socket

    def patient(self, token: str) -> Socket:
        sio = socketio_of(self.app).test_client(
            self.app,
            namespace=PATIENT,
            flask_test_client=self.app.test_client(),
            auth={"token": token},
        )
        assert sio.is_connected(PATIENT)
        socket = Socket(sio, PATIENT)
        ack_ok(socket.call("waiting_room.status"))
        socket.received()
        return socket

    def entry(self, entry_id: int) -> WaitingEntry:
        with self.app.app_context():
            found = db.session.get(WaitingEntry, entry_id)
            assert found is not None
            db.session.expunge(found)
            return found

    def entries(self) -> list[WaitingEntry]:
        with self.app.app_context():
            found = list(db.session.scalars(select(WaitingEntry).order_by(WaitingEntry.id)))
            for entry in found:
                db.session.expunge(entry)
            return found

    def set(self, entry_id: int, **values: Any) -> None:
        with self.app.app_context():
            db.session.execute(
                update(WaitingEntry).where(WaitingEntry.id == entry_id).values(**values)
            )
            db.session.commit()

    def audit(self, action: str | None = None) -> list[AuditEntry]:
        with self.app.app_context():
            query = select(AuditEntry).where(
                AuditEntry.source == "waiting_room", AuditEntry.action.like("waiting_room.%")
            )
            if action:
                query = query.where(AuditEntry.action == action)
            rows = list(db.session.scalars(query.order_by(AuditEntry.id)))
            for row in rows:
                db.session.expunge(row)
            return rows

    def fired(self, name: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.events if e.name == name and e.source == "waiting_room"]


@pytest.fixture
def make_room(make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def make(**overrides: Any) -> Room:
        app = make_app(**{**QUIET, **overrides})
        room = Room(app)
        manager = app.extensions["backoffice.plugins"]
        original = manager.emit

        def record(event: DomainEvent) -> None:
            room.events.append(event)
            original(event)

        monkeypatch.setattr(manager, "emit", record)
        return room

    yield make


@pytest.fixture
def room(make_room: Callable[..., Room]) -> Room:
    return make_room()


def join_path(token: str) -> str:
    return f"/join/{token}"


# --- the patient pages ---------------------------------------------------------------------


def test_the_join_page_shows_the_practice_and_the_device_check(make_room: Any) -> None:
    room = make_room(WAITING_ROOM_MESSAGE="Grab a glass of water.", WAITING_ROOM_LOGO_URL="")
    token = room.invite(client="Alex")
    page = room.app.test_client().get(join_path(token))
    assert page.status_code == 200
    html = page.text
    assert "Demo Behavioral Health" in html and 'id="patient-practice"' in html
    assert "Grab a glass of water." in html
    assert 'id="wr-check-camera"' in html and 'id="wr-check-connection"' in html
    assert 'id="wr-dob"' not in html  # no identity check unless the practice asks
    assert "appbuilder" not in html and "bo-sidebar" not in html  # not the staff layout
    assert re.search(r'<script src="[^"]*patient\.js(\?v=\w+)?" nonce="[^"]+">', html)
    assert "onclick=" not in html
    csp = page.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce and f'nonce="{nonce.group(1)}"' in html

    with_logo = make_room(WAITING_ROOM_LOGO_URL="/static/logo.png", WAITING_ROOM_ASK_DOB=True)
    html = with_logo.app.test_client().get(join_path(with_logo.invite())).text
    assert 'id="patient-logo"' in html and 'src="/static/logo.png"' in html
    assert 'id="wr-dob"' in html


def test_bad_links_and_codes_answer_a_friendly_404(room: Room) -> None:
    http = room.app.test_client()
    expired_token = room.invite()
    with room.app.app_context():
        from core.models import PatientInvite

        invite_id = db.session.scalar(select(PatientInvite.id).order_by(PatientInvite.id.desc()))
        revoke_invite(invite_id, source="tests")
    for path in (
        "/join/" + "x" * 32,
        "/join/short",
        join_path(expired_token),
        "/wait/no-such-practice",
    ):
        page = http.get(path)
        assert page.status_code == 404, path
        assert "We could not open this waiting room" in page.text, path
        assert "Traceback" not in page.text
    assert "not valid any more" in http.get("/join/" + "x" * 32).text
    assert "could not find a practice" in http.get("/wait/nope").text
    for path in ("/join/" + "y" * 32 + "/enter", "/wait/nope/enter"):
        response = http.post(path, json={"name": "X"}, headers={"X-CSRFToken": "x"})
        assert response.status_code in {400, 404}, path  # CSRF or the link, never a 500
    assert http.get("/wait/?code=demo-practice").headers["Location"].endswith("/wait/demo-practice")
    assert http.get("/wait/").status_code == 200
    assert http.get("/join/ping").status_code == 204


def test_one_invite_makes_one_entry_and_a_refresh_keeps_the_place(room: Room) -> None:
    staff = room.staff("frontdesk")
    first_token = room.invite(client="Alex")
    second_token = room.invite(client="Brooke")
    first = room.check_in(join_path(first_token), name="Alex Rivera")
    assert first["created"] is True
    second = room.check_in(join_path(second_token), name="Brooke Chen")

    again = room.join(join_path(first_token), name="Someone Else")  # e.g. a second device
    assert again.status_code == 200
    assert again.get_json()["entry_id"] == first["entry_id"]
    assert again.get_json()["created"] is False
    ours = [e for e in room.entries() if e.invite_kind == "quickvite" and e.version > 1]
    assert {e.id for e in ours} == {first["entry_id"], second["entry_id"]}
    assert room.entry(first["entry_id"]).display_name == "Alex Rivera"
    assert len(room.fired("patient.arrived")) == 2
    assert len(room.audit("waiting_room.arrived")) == 2

    # Both tokens are the same place in line: a refresh (or the other device) finds it.
    views = [
        ack_ok(room.patient(t["token"]).call("waiting_room.status"))
        for t in (first, again.get_json())
    ]
    assert views[0]["entry_id"] == views[1]["entry_id"] == first["entry_id"]
    assert views[0]["position"] == views[1]["position"] == DEMO_ENTRIES + 1  # clinician1's line
    second_view = ack_ok(room.patient(second["token"]).call("waiting_room.status"))
    assert second_view["position"] == DEMO_ENTRIES + 2

    arrivals = [u for u in staff.received("waiting_room.update") if u["kind"] == "arrived"]
    assert [u["entry"]["id"] for u in arrivals] == [first["entry_id"], second["entry_id"]]
    assert arrivals[0]["entry"]["name"] == "Alex Rivera"
    assert arrivals[0]["entry"]["client"]["name"] == "Alex Rivera"
    assert arrivals[0]["entry"]["invite_kind"] == "quickvite"


def test_the_database_refuses_two_live_entries_for_one_invite(room: Room) -> None:
    token = room.invite()
    entry_id = room.check_in(join_path(token))["entry_id"]
    live = room.entry(entry_id)
    with room.app.app_context():
        db.session.add(
            WaitingEntry(
                live_key=live.live_key,
                invite_id=live.invite_id,
                invite_kind="quickvite",
                display_name="Racer",
                arrived_at=utcnow(),
                waiting_since=utcnow(),
            )
        )
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()

    # Once the visit ends the invite may start a new one, at the end of the line.
    staff = room.staff("clinician1")
    ack_ok(staff.call("waiting_room.remove", {"entry_id": entry_id}))
    assert room.entry(entry_id).live_key is None
    again = room.check_in(join_path(token))
    assert again["created"] is True and again["entry_id"] != entry_id


def test_the_external_link_makes_a_new_entry_per_visit(room: Room) -> None:
    clinician2 = room.user_id("clinician2")
    frontdesk = room.user_id("frontdesk")
    one = room.check_in("/wait/demo-practice", name="Walk In", provider_id=clinician2)
    two = room.check_in("/wait/demo-practice", name="Walk In", provider_id=frontdesk)
    assert one["entry_id"] != two["entry_id"]
    first, second = room.entry(one["entry_id"]), room.entry(two["entry_id"])
    assert first.invite_kind == second.invite_kind == "external"
    assert first.external_code == "demo-practice" and first.invite_id is None
    assert first.provider_id == clinician2
    assert second.provider_id is None  # only clinicians can be chosen
    page = room.app.test_client().get("/wait/demo-practice").text
    assert "Who are you here to see?" in page and "Jordan Lee" in page and "Riley" not in page


def test_check_in_validates_the_form_and_the_identity_check(make_room: Any) -> None:
    room = make_room(WAITING_ROOM_ASK_DOB=True)
    token = room.invite(client="Alex")
    before = len(room.entries())
    invalid: list[tuple[dict[str, Any], str]] = [
        ({"name": "   "}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": "Alex"}, "date_of_birth"),
        ({"name": "Alex", "date_of_birth": "yesterday"}, "date_of_birth"),
        ({"name": "Alex", "date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"name": "Alex", "extra": 1}, "extra"),
    ]
    for body, field_name in invalid:
        response = room.join(join_path(token), **body)
        assert response.status_code == 400, body
        assert field_name in response.get_json()["fields"], (body, response.get_json())
    no_csrf = room.app.test_client().post(join_path(token) + "/enter", json={"name": "A"})
    assert no_csrf.status_code == 400
    assert len(room.entries()) == before

    matched = room.check_in(join_path(token), name="Alex", date_of_birth="1988-04-12")
    assert room.entry(matched["entry_id"]).identity == "matched"
    other = room.check_in(
        join_path(room.invite(client="Brooke")), name="B", date_of_birth="1990-01-01"
    )
    assert room.entry(other["entry_id"]).identity == "mismatch"
    walk_in = room.check_in("/wait/demo-practice", name="W", date_of_birth="1990-01-01")
    assert room.entry(walk_in["entry_id"]).identity == "unverified"
    staff = room.staff("clinician1")
    snapshot = ack_ok(staff.call("waiting_room.snapshot"))
    identities = {e["id"]: e["identity"] for e in snapshot["entries"]}
    assert identities[matched["entry_id"]] == "matched"
    assert identities[other["entry_id"]] == "mismatch"


# --- staff actions ----------------------------------------------------------------------


def test_staff_actions_move_the_patient_through_the_visit(make_room: Any) -> None:
    room = make_room(WAITING_ROOM_SESSION_URL="https://video.example/s/{entry_id}")
    clinician1, clinician2 = room.user_id("clinician1"), room.user_id("clinician2")
    desk = room.staff("frontdesk")
    receiver = room.staff("clinician2")
    token = room.check_in(join_path(room.invite(client="Alex")), name="Alex")
    entry_id = token["entry_id"]
    patient = room.patient(token["token"])
    desk.received()
    receiver.received()

    admitted = ack_ok(desk.call("waiting_room.admit", {"entry_id": entry_id}))
    assert admitted["status"] == "admitted" and admitted["admitted_by"] == "Riley Desk"
    assert admitted["session_url"] == f"https://video.example/s/{entry_id}"
    view = patient.received("waiting_room.status")[-1]
    assert view["status"] == "admitted" and view["position"] is None
    # The patient's own link is configured apart; its page fills in the patient's token.
    assert view["session_url"] == "/video/p/{token}"
    error = ack_error(desk.call("waiting_room.admit", {"entry_id": entry_id}), "invalid_state")
    assert "admitted" in error["message"]

    back = ack_ok(desk.call("waiting_room.send_back", {"entry_id": entry_id}))
    assert back["status"] == "waiting" and back["session_url"] is None
    ack_error(desk.call("waiting_room.send_back", {"entry_id": entry_id}), "invalid_state")
    assert patient.received("waiting_room.status")[-1]["status"] == "waiting"

    moved = ack_ok(
        desk.call(
            "waiting_room.transfer",
            {"entry_id": entry_id, "to_provider_id": clinician2, "note": "Needs Jordan"},
        )
    )
    assert moved["provider_id"] == clinician2 and moved["transferred_by"] == "Riley Desk"
    told = receiver.received("waiting_room.transferred")
    assert len(told) == 1 and told[0]["by"] == "Riley Desk" and told[0]["note"] == "Needs Jordan"
    assert told[0]["entry"]["id"] == entry_id
    view = patient.received("waiting_room.status")[-1]
    assert view["provider"]["name"] == "Jordan Lee" and view["position"] == 1
    ack_error(
        desk.call("waiting_room.transfer", {"entry_id": entry_id, "to_provider_id": clinician2}),
        "invalid_state",
    )
    for target in (room.user_id("frontdesk"), 999_999):
        ack_error(
            desk.call("waiting_room.transfer", {"entry_id": entry_id, "to_provider_id": target}),
            "invalid_provider",
        )

    due = ack_ok(
        desk.call(
            "waiting_room.mark_copay",
            {"entry_id": entry_id, "status": "due", "amount_cents": 2500},
        )
    )
    assert due["copay"] == {
        "status": "due",
        "amount_cents": 2500,
        "collected_at": None,
        "collected_by": None,
    }
    collected = ack_ok(
        desk.call("waiting_room.mark_copay", {"entry_id": entry_id, "status": "collected"})
    )
    assert collected["copay"]["status"] == "collected"
    assert collected["copay"]["amount_cents"] == 2500
    assert collected["copay"]["collected_by"] == "Riley Desk"
    ack_error(
        desk.call(
            "waiting_room.mark_copay", {"entry_id": entry_id, "status": "due", "amount_cents": 0}
        ),
        "invalid",
    )

    removed = ack_ok(
        desk.call("waiting_room.remove", {"entry_id": entry_id, "reason": "duplicate"})
    )
    assert removed["status"] == "removed" and removed["ended_at"]
    final = patient.received("waiting_room.status")[-1]
    assert final["status"] == "removed" and final["live"] is False
    for event, payload in [
        ("waiting_room.admit", {"entry_id": entry_id}),
        ("waiting_room.message", {"entry_id": entry_id, "body": "hello?"}),
        ("waiting_room.transfer", {"entry_id": entry_id, "to_provider_id": clinician1}),
        ("waiting_room.remove", {"entry_id": entry_id}),
        ("waiting_room.send_back", {"entry_id": entry_id}),
        ("waiting_room.no_show", {"entry_id": entry_id}),
    ]:
        ack_error(desk.call(event, payload), "invalid_state")
    ack_error(desk.call("waiting_room.admit", {"entry_id": 999_999}), "not_found")
    ack_error(patient.call("waiting_room.message", {"body": "still there?"}), "invalid_state")
    assert room.entry(entry_id).status == "removed"


def test_no_show_from_waiting_and_after_leaving(room: Room) -> None:
    desk = room.staff("frontdesk")
    waiting = room.check_in(join_path(room.invite()))["entry_id"]
    assert ack_ok(desk.call("waiting_room.no_show", {"entry_id": waiting}))["status"] == "no_show"
    gone = room.check_in(join_path(room.invite()))
    ack_ok(room.patient(gone["token"]).call("waiting_room.leave"))
    left = room.entry(gone["entry_id"])
    assert left.status == "left" and left.left_at is not None
    marked = ack_ok(desk.call("waiting_room.no_show", {"entry_id": gone["entry_id"]}))
    assert marked["status"] == "no_show"
    after = room.entry(gone["entry_id"])
    assert after.left_at == left.left_at and after.waited_seconds == left.waited_seconds
    reasons = [p["reason"] for p in room.fired("patient.removed")]
    assert reasons == ["no_show", "no_show"]


def test_bad_payloads_get_an_invalid_ack_and_the_socket_stays(room: Room) -> None:
    desk = room.staff("frontdesk")
    patient = room.patient(room.check_in(join_path(room.invite()))["token"])
    for event, payload, bad_field in [
        ("waiting_room.admit", {}, "entry_id"),
        ("waiting_room.admit", {"entry_id": "7"}, "entry_id"),
        ("waiting_room.admit", {"entry_id": 0}, "entry_id"),
        ("waiting_room.admit", {"entry_id": 1, "extra": True}, "extra"),
        ("waiting_room.message", {"entry_id": 1, "body": ""}, "body"),
        ("waiting_room.message", {"entry_id": 1, "body": "x" * 2001}, "body"),
        ("waiting_room.transfer", {"entry_id": 1}, "to_provider_id"),
        ("waiting_room.mark_copay", {"entry_id": 1, "status": "waived"}, "status"),
        (
            "waiting_room.mark_copay",
            {"entry_id": 1, "status": "due", "amount_cents": -1},
            "amount_cents",
        ),
        ("waiting_room.mute", {"muted": "loud"}, "muted"),
        ("waiting_room.snapshot", {"scope": "everyone"}, "scope"),
        ("waiting_room.availability", {"availability": "asleep"}, "availability"),
    ]:
        error = ack_error(desk.call(event, payload), "invalid")
        assert bad_field in error["fields"], (event, payload, error)
    ack_error(desk.call("waiting_room.admit", [1]), "invalid")
    for event, payload, bad_field in [
        ("waiting_room.message", {"body": ""}, "body"),
        ("waiting_room.device_check", {"camera": True}, "microphone"),
        (
            "waiting_room.device_check",
            {"camera": 1, "microphone": True, "latency_ms": -5},
            "latency_ms",
        ),
        ("waiting_room.status", {"entry": 12}, "entry"),  # never an id from the payload
    ]:
        error = ack_error(patient.call(event, payload), "invalid")
        assert bad_field in error["fields"], (event, payload, error)
    assert desk.sio.is_connected(STAFF) and patient.sio.is_connected(PATIENT)


def test_who_may_use_the_events(room: Room) -> None:
    secadmin = room.app.test_client()
    login(secadmin, "secadmin")
    sio = socketio_of(room.app).test_client(room.app, namespace=STAFF, flask_test_client=secadmin)
    for event in ("waiting_room.snapshot", "waiting_room.subscribe", "waiting_room.admit"):
        ack_error(sio.emit(event, {"entry_id": 1}, namespace=STAFF, callback=True), "forbidden")
    for username in ("clinician1", "frontdesk", "practiceadmin", "admin"):
        ack_ok(room.staff(username).call("waiting_room.heartbeat"))
    with room.app.app_context():
        from core.api import new_patient_token

        stranger = new_patient_token(kind="portal")
    ack_error(room_patient_raw(room, stranger).call("waiting_room.status"), "no_entry")
    forged_entry = room_patient_raw(room, "not-a-token")
    assert not forged_entry.sio.is_connected(PATIENT)


def room_patient_raw(room: Room, token: str) -> Socket:
    sio = socketio_of(room.app).test_client(
        room.app, namespace=PATIENT, flask_test_client=room.app.test_client(), auth={"token": token}
    )
    return Socket(sio, PATIENT)


# --- messages, device check --------------------------------------------------------------


def test_messages_go_both_ways_and_are_kept(room: Room) -> None:
    staff = room.staff("clinician1")
    joined = room.check_in(join_path(room.invite()), name="Alex")
    patient = room.patient(joined["token"])
    staff.received()
    view = ack_ok(patient.call("waiting_room.message", {"body": "Is the clinician running late?"}))
    assert [(m["sender"], m["body"]) for m in view["messages"]] == [
        ("patient", "Is the clinician running late?")
    ]
    update_ = staff.received("waiting_room.update")[-1]
    assert update_["kind"] == "message"
    assert update_["entry"]["messages"][-1]["body"] == "Is the clinician running late?"
    reply = ack_ok(
        staff.call(
            "waiting_room.message", {"entry_id": joined["entry_id"], "body": "Five minutes."}
        )
    )
    assert reply["messages"][-1] == {
        **reply["messages"][-1],
        "sender": "staff",
        "author": "Casey Morgan",
        "body": "Five minutes.",
    }
    pushed = patient.received("waiting_room.status")[-1]
    assert [m["body"] for m in pushed["messages"]] == [
        "Is the clinician running late?",
        "Five minutes.",
    ]
    # A refresh (a new connection with the same token) gets the whole conversation back.
    again = ack_ok(room.patient(joined["token"]).call("waiting_room.status"))
    assert [m["sender"] for m in again["messages"]] == ["patient", "staff"]
    rows = room.audit("waiting_room.message_sent")
    assert [r.details for r in rows] == [
        {"sender": "patient", "length": 30},
        {"sender": "staff", "length": 13},
    ]
    assert "Five minutes." not in str([r.details for r in room.audit()])


def test_a_patient_cannot_flood_the_chat(make_room: Any) -> None:
    room = make_room(WAITING_ROOM_MAX_PATIENT_MESSAGES=2)
    patient = room.patient(room.check_in(join_path(room.invite()))["token"])
    for body in ("one", "two"):
        ack_ok(patient.call("waiting_room.message", {"body": body}))
    ack_error(patient.call("waiting_room.message", {"body": "three"}), "too_many")


def test_the_device_check_is_recorded_and_shown_to_staff(room: Room) -> None:
    staff = room.staff("clinician1")
    joined = room.check_in(join_path(room.invite()))
    patient = room.patient(joined["token"])
    checks: list[tuple[dict[str, Any], str]] = [
        ({"camera": True, "microphone": True, "latency_ms": 40.0, "socket_latency_ms": 12.0}, "ok"),
        ({"camera": True, "microphone": True, "latency_ms": 900.0}, "warning"),
        ({"camera": False, "microphone": True, "error": "NotAllowedError"}, "warning"),
        ({"camera": False, "microphone": False, "error": "NotFoundError"}, "failed"),
        ({"camera": False, "microphone": False, "skipped": True}, "skipped"),
    ]
    for check, verdict in checks:
        view = ack_ok(patient.call("waiting_room.device_check", check))
        assert view["device_status"] == verdict, check
        entry = staff.received("waiting_room.update")[-1]["entry"]
        assert entry["device"]["status"] == verdict
        assert entry["device"]["details"]["camera"] is check["camera"]
    assert len(room.audit("waiting_room.device_checked")) == 5


# --- audit and domain events --------------------------------------------------------------


def test_every_action_is_audited_and_fires_a_domain_event(room: Room) -> None:
    clinician2 = room.user_id("clinician2")
    desk = room.staff("frontdesk")
    first = room.check_in(join_path(room.invite(client="Alex")))["entry_id"]
    second = room.check_in(join_path(room.invite()))
    ack_ok(desk.call("waiting_room.admit", {"entry_id": first}))
    ack_ok(desk.call("waiting_room.send_back", {"entry_id": first}))
    ack_ok(desk.call("waiting_room.transfer", {"entry_id": first, "to_provider_id": clinician2}))
    ack_ok(desk.call("waiting_room.message", {"entry_id": first, "body": "hi"}))
    ack_ok(desk.call("waiting_room.mark_copay", {"entry_id": first, "status": "not_required"}))
    ack_ok(desk.call("waiting_room.remove", {"entry_id": first}))
    ack_ok(room.patient(second["token"]).call("waiting_room.leave"))

    actions = [(r.action, r.target, r.actor) for r in room.audit()]
    assert actions == [
        ("waiting_room.arrived", f"waiting_entry:{first}", "system"),
        ("waiting_room.arrived", f"waiting_entry:{second['entry_id']}", "system"),
        ("waiting_room.admitted", f"waiting_entry:{first}", "frontdesk"),
        ("waiting_room.sent_back", f"waiting_entry:{first}", "frontdesk"),
        ("waiting_room.transferred", f"waiting_entry:{first}", "frontdesk"),
        ("waiting_room.message_sent", f"waiting_entry:{first}", "frontdesk"),
        ("waiting_room.copay_marked", f"waiting_entry:{first}", "frontdesk"),
        ("waiting_room.removed", f"waiting_entry:{first}", "frontdesk"),
        ("waiting_room.left", f"waiting_entry:{second['entry_id']}", "system"),
    ]
    names = [e.name for e in room.events if e.source == "waiting_room"]
    assert names == [
        "patient.arrived",
        "patient.arrived",
        "patient.admitted",
        "patient.sent_back",
        "patient.transferred",
        "patient.message_sent",
        "patient.copay_updated",
        "patient.removed",
        "patient.left",
    ]
    admitted = room.fired("patient.admitted")[0]
    assert admitted["entry_id"] == first and admitted["client_id"] == room.client_id("Alex")
    assert admitted["invite_kind"] == "quickvite" and admitted["waited_seconds"] >= 0
    assert admitted["admitted_by"] == room.user_id("frontdesk")
    moved = room.fired("patient.transferred")[0]
    assert (moved["from_provider_id"], moved["to_provider_id"]) == (
        room.user_id("clinician1"),
        clinician2,
    )
    assert room.fired("patient.left")[0]["reason"] == "patient_left"
    for payload in (e.payload for e in room.events if e.source == "waiting_room"):
        assert "name" not in payload and "display_name" not in payload  # ids, not PHI


# --- presence: refresh, the grace period, left -----------------------------------------------


def test_a_closed_page_keeps_its_place_within_the_grace_period(make_room: Any) -> None:
    room = make_room(WAITING_ROOM_LEAVE_GRACE=30)
    staff = room.staff("clinician1")
    first = room.check_in(join_path(room.invite()), name="First")
    second = room.check_in(join_path(room.invite()), name="Second")
    patient = room.patient(first["token"])
    http = room.app.test_client()
    csrf = csrf_of(http.get("/wait/demo-practice").text)

    # The page closes (or reloads): its beacon says so, and staff see "away" at once.
    response = http.post("/join/away", data={"token": first["token"], "csrf_token": csrf})
    assert response.status_code == 204
    away = room.entry(first["entry_id"])
    assert away.disconnected_at is not None and away.status == "waiting"
    seen = staff.received("waiting_room.update")[-1]["entry"]
    assert seen["id"] == first["entry_id"] and seen["connection"] == "away"
    ack_ok(staff.call("waiting_room.snapshot"))
    assert room.entry(first["entry_id"]).status == "waiting"  # within the grace period

    # Back within the grace period: same entry, same place, online again.
    view = ack_ok(room.patient(first["token"]).call("waiting_room.status"))
    assert view["entry_id"] == first["entry_id"] and view["position"] == DEMO_ENTRIES + 1
    assert room.entry(first["entry_id"]).disconnected_at is None
    assert staff.received("waiting_room.update")[-1]["entry"]["connection"] == "online"
    assert http.post("/join/away", data={"token": "forged", "csrf_token": csrf}).status_code == 400

    # Away longer than the grace period: left, when staff next look.
    http.post("/join/away", data={"token": first["token"], "csrf_token": csrf})
    long_ago = utcnow() - dt.timedelta(seconds=45)
    room.set(first["entry_id"], disconnected_at=long_ago)
    snapshot = ack_ok(staff.call("waiting_room.snapshot"))
    assert first["entry_id"] not in [e["id"] for e in snapshot["entries"]]
    left = room.entry(first["entry_id"])
    assert left.status == "left" and left.left_at == long_ago and left.live_key is None
    assert left.waited_seconds is not None and left.waited_seconds <= 1
    assert room.fired("patient.left")[-1]["reason"] == "grace_expired"
    assert room.audit("waiting_room.left")[-1].details["by"] == "grace period"
    assert patient.received("waiting_room.status")[-1]["status"] == "left"
    # Everyone behind moved up.
    second_view = ack_ok(room.patient(second["token"]).call("waiting_room.status"))
    assert second_view["position"] == DEMO_ENTRIES + 1
    # Coming back after it: a new check-in at the end of the line.
    ended = ack_ok(room.patient(first["token"]).call("waiting_room.status"))
    assert ended["status"] == "left" and ended["live"] is False


def test_a_dropped_socket_shows_away_at_once_unless_another_page_holds_the_place(
    make_room: Any,
) -> None:
    room = make_room(WAITING_ROOM_LEAVE_GRACE=30)
    staff = room.staff("clinician1")
    joined = room.check_in(join_path(room.invite()), name="Dropped")
    entry_id = joined["entry_id"]
    phone = room.patient(joined["token"])
    laptop = room.patient(joined["token"])

    # One of two pages drops: the other still holds the place.
    phone.sio.disconnect(PATIENT)
    assert room.entry(entry_id).disconnected_at is None
    # The network comes back: the new socket connects before the old one is noticed gone,
    # as happens when a client reconnects faster than the server's ping timeout.
    back = room.patient(joined["token"])
    laptop.sio.disconnect(PATIENT)
    assert room.entry(entry_id).disconnected_at is None
    staff.received()

    # A socket of a worker that died without a word stops counting once its heartbeats stop.
    with room.app.app_context():
        stale = utcnow() - dt.timedelta(minutes=5)
        db.session.add(WaitingSocket(sid="dead-worker", entry_id=entry_id, seen_at=stale))
        db.session.commit()

    # The last page drops: away at once, the grace period runs, staff are told.
    back.sio.disconnect(PATIENT)
    gone = room.entry(entry_id)
    assert gone.disconnected_at is not None and gone.status == "waiting"
    [update] = staff.received("waiting_room.update")
    assert update["entry"]["id"] == entry_id and update["entry"]["connection"] == "away"

    # Reconnecting is enough to be present again, before any heartbeat.
    room.patient(joined["token"])
    assert room.entry(entry_id).disconnected_at is None
    assert staff.received("waiting_room.update")[-1]["entry"]["connection"] == "online"


def test_sockets_of_other_patient_tokens_leave_the_waiting_room_alone(make_room: Any) -> None:
    from core.api import new_patient_token

    room = make_room()
    joined = room.check_in(join_path(room.invite()))
    with room.app.app_context():
        video_only = new_patient_token(video_session=1)
    sio = socketio_of(room.app).test_client(
        room.app,
        namespace=PATIENT,
        flask_test_client=room.app.test_client(),
        auth={"token": video_only},
    )
    assert sio.is_connected(PATIENT)
    sio.disconnect(PATIENT)
    assert room.entry(joined["entry_id"]).disconnected_at is None


def test_a_silent_page_turns_away_then_left(make_room: Any) -> None:
    room = make_room(WAITING_ROOM_AWAY_AFTER=1, WAITING_ROOM_LEAVE_GRACE=2)
    staff = room.staff("frontdesk")
    joined = room.check_in(join_path(room.invite()))
    entry_id = joined["entry_id"]
    room.set(entry_id, last_seen_at=utcnow() - dt.timedelta(seconds=1.5))
    ack_ok(staff.call("waiting_room.heartbeat"))
    entry = room.entry(entry_id)
    assert entry.status == "waiting" and entry.disconnected_at == entry.last_seen_at
    room.set(entry_id, last_seen_at=utcnow() - dt.timedelta(seconds=3))
    room.set(entry_id, disconnected_at=utcnow() - dt.timedelta(seconds=3))
    ack_ok(staff.call("waiting_room.heartbeat"))
    assert room.entry(entry_id).status == "left"
    # Acting on a patient whose grace ran out fails: they are gone.
    ack_error(staff.call("waiting_room.admit", {"entry_id": entry_id}), "invalid_state")
    # Demo rows were never seen by a page: the sweep leaves them alone.
    assert all(e.status == "waiting" for e in room.entries() if e.last_seen_at is None)


# --- long waits ---------------------------------------------------------------------------


def test_a_long_wait_alerts_the_provider_then_the_practice_once(make_room: Any) -> None:
    room = make_room(WAITING_ROOM_ALERT_PROVIDER_AFTER=60, WAITING_ROOM_ALERT_PRACTICE_AFTER=120)
    # Keep the demo rows out of it: they were seeded minutes ago.
    for entry in room.entries():
        room.set(entry.id, status="removed", live_key=None)
    provider = room.staff("clinician1")
    bystander = room.staff("clinician2")
    desk = room.staff("frontdesk")
    joined = room.check_in(join_path(room.invite()))
    entry_id = joined["entry_id"]
    for socket in (provider, bystander, desk):
        socket.received()

    room.set(entry_id, waiting_since=utcnow() - dt.timedelta(seconds=70))
    ack_ok(desk.call("waiting_room.heartbeat"))
    alerts = provider.received("waiting_room.alert")
    assert [(a["level"], a["entry"]["id"]) for a in alerts] == [("provider", entry_id)]
    assert alerts[0]["waited_seconds"] >= 70
    assert bystander.received("waiting_room.alert") == []  # only the provider so far
    assert desk.received("waiting_room.alert") == []
    ack_ok(desk.call("waiting_room.heartbeat"))
    assert provider.received("waiting_room.alert") == []  # once

    room.set(entry_id, waiting_since=utcnow() - dt.timedelta(seconds=130))
    ack_ok(provider.call("waiting_room.snapshot"))
    for socket in (provider, bystander, desk):
        practice = socket.received("waiting_room.alert")
        assert [(a["level"], a["entry"]["id"]) for a in practice] == [("practice", entry_id)]
    ack_ok(desk.call("waiting_room.heartbeat"))
    assert desk.received("waiting_room.alert") == []
    entry = room.entry(entry_id)
    assert entry.provider_alerted_at is not None and entry.practice_alerted_at is not None
    assert [r.details["level"] for r in room.audit("waiting_room.alert_sent")] == [
        "provider",
        "practice",
    ]
    # Sent back after an admission, the wait (and its alerts) start over.
    ack_ok(desk.call("waiting_room.admit", {"entry_id": entry_id}))
    ack_ok(desk.call("waiting_room.send_back", {"entry_id": entry_id}))
    entry = room.entry(entry_id)
    assert entry.provider_alerted_at is None and entry.practice_alerted_at is None


# --- consent, sessions, snapshot, filters -----------------------------------------------------


def test_consent_events_update_live_entries_and_later_arrivals(room: Room) -> None:
    staff = room.staff("clinician1")
    alex = room.client_id("Alex")
    live = room.check_in(join_path(room.invite(client="Alex")))["entry_id"]
    other = room.check_in(join_path(room.invite(client="Brooke")))["entry_id"]
    staff.received()
    with room.app.test_request_context(), unchecked_domain_events(room.app):  # partial payloads
        emit_domain_event("consent.recorded", {"client_id": alex}, source="consent")
    assert room.entry(live).consent_status == "recorded"
    assert room.entry(other).consent_status == "unknown"
    update_ = staff.received("waiting_room.update")[-1]
    assert update_["kind"] == "consent" and update_["entry"]["consent"]["status"] == "recorded"
    with room.app.test_request_context(), unchecked_domain_events(room.app):
        emit_domain_event("consent.declined", {"client_id": alex}, source="consent")
        emit_domain_event("consent.recorded", {"client_id": "nope"}, source="consent")
        emit_domain_event("consent.recorded", {"client_id": 999_999}, source="consent")
    assert room.entry(live).consent_status == "declined"
    # Consent given before the patient arrives is shown when they do.
    with room.app.test_request_context(), unchecked_domain_events(room.app):
        emit_domain_event(
            "consent.recorded", {"client_id": room.client_id("Devon")}, source="consent"
        )
    later = room.check_in(join_path(room.invite(client="Devon")))["entry_id"]
    assert room.entry(later).consent_status == "recorded"


def test_a_finished_session_completes_the_visit(room: Room) -> None:
    desk = room.staff("frontdesk")
    entry_id = room.check_in(join_path(room.invite()))["entry_id"]
    ack_ok(desk.call("waiting_room.admit", {"entry_id": entry_id}))
    with room.app.test_request_context(), unchecked_domain_events(room.app):  # partial payload
        emit_domain_event("session.ended", {"waiting_entry_id": entry_id}, source="video")
    entry = room.entry(entry_id)
    assert entry.status == "completed" and entry.live_key is None


def test_snapshots_filter_and_updates_are_versioned(room: Room) -> None:
    clinician1, clinician2 = room.user_id("clinician1"), room.user_id("clinician2")
    staff = room.staff("clinician2")
    start = ack_ok(staff.call("waiting_room.snapshot"))
    mine_one = room.check_in(join_path(room.invite(provider="clinician2")))["entry_id"]
    theirs = room.check_in(join_path(room.invite(provider="clinician1")))["entry_id"]
    nobody = room.check_in(join_path(room.invite(provider=None)))["entry_id"]
    ack_ok(staff.call("waiting_room.admit", {"entry_id": theirs}))
    ack_ok(staff.call("waiting_room.message", {"entry_id": nobody, "body": "hello"}))

    versions = [u["version"] for u in staff.received("waiting_room.update")]
    assert versions == list(range(start["version"] + 1, start["version"] + 1 + len(versions)))
    assert len(versions) == 5

    def ids(scope: str) -> list[int]:
        return [
            e["id"]
            for e in ack_ok(staff.call("waiting_room.snapshot", {"scope": scope}))["entries"]
        ]

    everyone = ids("all")
    assert everyone[-3:] == [mine_one, theirs, nobody]  # arrival order
    assert ids("mine") == [mine_one]
    assert ids("unassigned") == [nobody]
    assert ids(str(clinician1))[-1] == theirs and mine_one not in ids(str(clinician1))
    assert ids(str(clinician2)) == [mine_one]
    snapshot = ack_ok(staff.call("waiting_room.snapshot"))
    assert snapshot["version"] == versions[-1]
    assert {p["name"] for p in snapshot["providers"]} == {"Casey Morgan", "Jordan Lee"}
    assert snapshot["me"]["is_provider"] is True and snapshot["me"]["user_id"] == clinician2
    assert ack_ok(staff.call("waiting_room.heartbeat"))["version"] == versions[-1]


def test_mute_and_availability_are_kept_per_user(room: Room) -> None:
    staff = room.staff("clinician1")
    other = room.staff("clinician2")
    assert ack_ok(staff.call("waiting_room.subscribe"))["muted"] is False
    assert ack_ok(staff.call("waiting_room.mute", {"muted": True}))["muted"] is True
    staff = room.staff("clinician1")  # a new login (which ends the first one) still has it
    assert ack_ok(staff.call("waiting_room.subscribe"))["muted"] is True
    assert ack_ok(other.call("waiting_room.subscribe"))["muted"] is False
    assert [r.action for r in room.audit("waiting_room.sound_muted")] == [
        "waiting_room.sound_muted"
    ]

    patient = room.patient(room.check_in(join_path(room.invite()))["token"])
    before = ack_ok(patient.call("waiting_room.status"))["provider"]
    assert before["name"] == "Casey Morgan" and before["online"] is True
    ack_ok(
        staff.call("waiting_room.availability", {"availability": "running_late", "note": "10 min"})
    )
    pushed = patient.received("waiting_room.status")[-1]["provider"]
    assert pushed["availability"] == "running_late" and pushed["note"] == "10 min"


def test_the_page_the_widget_and_the_menu(room: Room) -> None:
    clinician = room.app.test_client()
    login(clinician, "clinician1")
    page = clinician.get("/waiting-room/")
    assert page.status_code == 200
    assert 'id="wr-dashboard"' in page.text and "dashboard.js" in page.text
    assert "notify.js" in page.text  # on every staff page
    home = clinician.get("/")
    assert 'id="wr-widget"' in home.text
    assert f'<strong data-count="waiting">{DEMO_ENTRIES}</strong> waiting' in home.text
    assert 'data-menu="Live Waiting Room"' in home.text

    secadmin = room.app.test_client()
    login(secadmin, "secadmin")
    assert secadmin.get("/waiting-room/").status_code in {302, 403}
    home = secadmin.get("/")
    assert 'id="wr-widget"' not in home.text and "Live Waiting Room" not in home.text


def test_the_demo_practice_has_patients_waiting(room: Room) -> None:
    demo = [e for e in room.entries() if e.last_seen_at is None]
    assert len(demo) == DEMO_ENTRIES
    assert {e.invite_kind for e in demo} == {"quickvite", "appointment"}
    assert {e.provider_id for e in demo} == {room.user_id("clinician1")}
    assert any(e.appointment_at is not None for e in demo)
    with room.app.app_context():
        from plugins.waiting_room.demo import seed

        seed()  # idempotent
    assert len(room.entries()) == DEMO_ENTRIES


def test_check_ins_are_rate_limited_per_address(make_room: Any) -> None:
    room = make_room(RATELIMIT_ENABLED=True, WAITING_ROOM_JOIN_RATE_LIMIT="2 per minute")
    http = room.app.test_client()
    statuses = [room.join("/wait/demo-practice", http=http).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert "Too many check-ins" in room.join("/wait/demo-practice", http=http).get_json()["error"]
    assert http.get("/wait/demo-practice").status_code == 200  # only check-ins are limited


def test_guessing_join_codes_is_slowed_down(make_room: Any) -> None:
    room = make_room(RATELIMIT_ENABLED=True, WAITING_ROOM_CODE_RATE_LIMIT="3 per minute")
    http = room.app.test_client()
    wrong = [http.get(f"/wait/guess-{n}").status_code for n in range(4)]
    assert wrong == [404, 404, 404, 429]
    assert "Too many codes" in http.get("/wait/guess-5").text
    assert http.get("/wait/demo-practice").status_code == 200  # the right code still opens


def test_a_patient_cannot_flood_the_practice_with_messages(make_room: Any) -> None:
    room = make_room(RATELIMIT_ENABLED=True, WAITING_ROOM_PATIENT_MESSAGE_RATE_LIMIT="2 per minute")
    joined = room.check_in(join_path(room.invite()))
    phone, laptop = room.patient(joined["token"]), room.patient(joined["token"])
    ack_ok(phone.call("waiting_room.message", {"body": "one"}))
    ack_ok(laptop.call("waiting_room.message", {"body": "two"}))
    refused = ack_error(phone.call("waiting_room.message", {"body": "three"}), "rate_limited")
    assert "too fast" in refused["message"]
    other = room.patient(room.check_in(join_path(room.invite()))["token"])
    ack_ok(other.call("waiting_room.message", {"body": "another patient is not held up"}))
    with room.app.app_context():
        bodies = [m.body for m in db.session.scalars(select(WaitingMessage))]
    assert "three" not in bodies and "two" in bodies


def test_a_disabled_waiting_room_closes_its_doors(room: Room) -> None:
    from core.app import set_plugin_enabled

    token = room.invite()
    joined = room.check_in(join_path(token))
    staff = room.staff("clinician1")
    patient = room.patient(joined["token"])
    with room.app.test_request_context():
        set_plugin_enabled("waiting_room", False, actor="tests")
    assert room.app.test_client().get(join_path(token)).status_code == 404
    assert room.app.test_client().get("/wait/demo-practice").status_code == 404
    ack_error(staff.call("waiting_room.snapshot"), "plugin_disabled")
    ack_error(patient.call("waiting_room.status"), "plugin_disabled")
    with room.app.test_request_context():
        set_plugin_enabled("waiting_room", True, actor="tests")
    assert ack_ok(patient.call("waiting_room.status"))["entry_id"] == joined["entry_id"]


def test_sent_back_from_the_call_is_one_update_for_both_sides(room: Room) -> None:
    """The call's "Send back" (video's ``session.sent_back``) moves the entry back to waiting
    with one versioned update that the dashboard and the patient's page both receive."""
    clinician = room.staff("clinician1")
    token = room.check_in(join_path(room.invite(client="Alex")), name="Alex")
    entry_id = token["entry_id"]
    patient = room.patient(token["token"])
    ack_ok(clinician.call("waiting_room.admit", {"entry_id": entry_id}))
    clinician.received()
    patient.received()

    with room.app.test_request_context():
        by = room.user_id("clinician1")
        emit_domain_event(
            "session.sent_back", {"entry_id": entry_id, "session_id": 1, "by": by}, source="video"
        )
    updates = [u for u in clinician.received("waiting_room.update") if u["kind"] == "sent_back"]
    assert len(updates) == 1
    staff_side = updates[0]["entry"]
    assert staff_side["status"] == "waiting" and staff_side["session_url"] is None
    patient_side = patient.received("waiting_room.status")[-1]
    assert patient_side["status"] == "waiting" and patient_side["session_url"] is None
    assert patient_side["version"] == updates[0]["version"] == staff_side["version"]
    snapshot = ack_ok(clinician.call("waiting_room.snapshot"))
    assert next(e for e in snapshot["entries"] if e["id"] == entry_id)["status"] == "waiting"
    assert room.entry(entry_id).status == "waiting"
    assert len(room.audit("waiting_room.sent_back")) == 1

    # Sent back again (a stale event, or the list's button first) changes nothing.
    with room.app.test_request_context():
        emit_domain_event(
            "session.sent_back", {"entry_id": entry_id, "session_id": 1, "by": by}, source="video"
        )
    assert clinician.received("waiting_room.update") == []


def test_each_installation_gets_its_own_join_code(
    make_room: Any, databases: Any, backend: str, tmp_path: Any
) -> None:
    """No deployment answers a known code: without WAITING_ROOM_EXTERNAL_CODE the link's
    code is made once for the practice's database (core's join-code registry) and kept;
    staff see the link on their page."""
    first = make_room(WAITING_ROOM_EXTERNAL_CODE="")
    other = make_room(
        WAITING_ROOM_EXTERNAL_CODE="",
        SQLALCHEMY_DATABASE_URI=databases.new(backend),
        INSTANCE_DIR=str(tmp_path / "two"),
    )
    with first.app.app_context():
        from plugins.waiting_room.room import external_codes

        code = external_codes()[0]
    with other.app.app_context():
        assert external_codes()[0] != code
    assert len(code) >= 12
    http = first.app.test_client()
    assert http.get("/wait/demo-practice").status_code == 404
    assert http.get(f"/wait/{code}").status_code == 200
    again = make_room(WAITING_ROOM_EXTERNAL_CODE="")  # another worker, the same database
    assert again.app.test_client().get(f"/wait/{code}").status_code == 200  # kept

    staff = first.app.test_client()
    login(staff, "frontdesk")
    assert f"/wait/{code}" in staff.get("/waiting-room/").text
