"""Staff Chat: the practice channel, direct messages, unread counts, history and the page.

In-process tests drive the Socket.IO events with Flask-SocketIO's test client on top of
logged-in Flask test clients (one login per user, so one user per client). The last test
runs two eventlet workers that share Redis and one database.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.app import set_plugin_enabled
from core.database import db
from core.models import AuditEntry
from core.realtime import socketio_of
from plugins.staff_chat import chat
from plugins.staff_chat.chat import DEMO_DM, DEMO_PRACTICE, seed_demo
from plugins.staff_chat.models import PRACTICE, ChatMessage, ChatReadMarker, dm_key
from tests.commit_counter import count_commits, engine_of
from tests.conftest import BACKENDS, LiveServer, live_login, login
from tests.realtime_helpers import Clients

STAFF = "/staff"
MESSAGE = "staff_chat.message"
READ = "staff_chat.read"


class Staff:
    """One logged-in user with a Socket.IO connection to /staff."""

    def __init__(self, app: Flask, username: str) -> None:
        self.username = username
        self.http: FlaskClient = app.test_client()
        response = login(self.http, username)
        assert response.status_code == 200, response.text[:300]
        self.sio = socketio_of(app).test_client(app, namespace=STAFF, flask_test_client=self.http)
        assert self.sio.is_connected(STAFF), f"{username} could not connect"
        with app.app_context():
            user = db.session.scalar(select(User).where(User.username == username))
            assert user is not None
            self.id = int(user.id)

    def call(self, event: str, data: Any = None) -> dict[str, Any]:
        ack = self.sio.emit(event, data, namespace=STAFF, callback=True)
        assert isinstance(ack, dict), ack
        return ack

    def ok(self, event: str, data: Any = None) -> Any:
        ack = self.call(event, data)
        assert ack.get("ok") is True, (self.username, event, data, ack)
        return ack["data"]

    def error(self, event: str, data: Any, code: str) -> dict[str, Any]:
        ack = self.call(event, data)
        assert ack.get("ok") is False and ack["error"]["code"] == code, (event, data, ack)
        assert ack["error"]["message"], ack
        error: dict[str, Any] = ack["error"]
        return error

    def received(self, name: str = MESSAGE) -> list[Any]:
        """What was pushed to this user since the last look (and forget it)."""
        return [m["args"][0] for m in self.sio.get_received(STAFF) if m["name"] == name]

    def channels(self) -> dict[str, dict[str, Any]]:
        data = self.ok("staff_chat.channels", {})
        assert data["me"]["id"] == self.id
        assert data["unread_total"] == sum(c["unread"] for c in data["channels"])
        return {c["key"]: c for c in data["channels"]}

    def close(self) -> None:
        if self.sio.is_connected(STAFF):
            self.sio.disconnect(namespace=STAFF)


@pytest.fixture
def staff(app: Flask) -> Iterator[Callable[[str], Staff]]:
    opened: list[Staff] = []

    def connect(username: str) -> Staff:
        user = Staff(app, username)
        opened.append(user)
        return user

    yield connect
    for user in opened:
        user.close()


def messages_in(app: Flask, channel: str) -> list[ChatMessage]:
    with app.app_context():
        query = select(ChatMessage).where(ChatMessage.channel == channel).order_by(ChatMessage.id)
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


def count_messages(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(ChatMessage.id))) or 0)


# --- sending and receiving -------------------------------------------------------------


def test_the_practice_channel_reaches_all_staff_and_is_audited_without_the_body(
    app: Flask, staff: Callable[[str], Staff]
) -> None:
    casey, riley, jordan = staff("clinician1"), staff("frontdesk"), staff("clinician2")
    for user in (casey, riley, jordan):
        user.received()

    body = "  Running ten minutes late; please tell my 3:00 (Room 2).  "
    sent = casey.ok("staff_chat.send", {"channel": PRACTICE, "body": body})
    assert sent["channel"] == PRACTICE and sent["sender_id"] == casey.id
    assert sent["body"] == body.strip() and sent["sender_name"] == "Casey Morgan"
    assert sent["created_at"].endswith("Z")
    for user in (casey, riley, jordan):
        assert user.received() == [sent], user.username

    stored = messages_in(app, PRACTICE)[-1]
    assert (stored.id, stored.sender_id, stored.body) == (sent["id"], casey.id, body.strip())
    with app.app_context():
        entries = list(
            db.session.scalars(select(AuditEntry).where(AuditEntry.action == "staff_chat.sent"))
        )
    assert [(e.actor, e.target, e.source) for e in entries] == [
        ("clinician1", PRACTICE, "staff_chat")
    ]
    assert entries[0].details == {"message_id": sent["id"]}
    assert "Room 2" not in repr(entries[0].details)


def sent_audits(app: Flask) -> list[AuditEntry]:
    with app.app_context():
        query = select(AuditEntry).where(AuditEntry.action == "staff_chat.sent")
        found = list(db.session.scalars(query.order_by(AuditEntry.id)))
        db.session.expunge_all()
        return found


def test_a_message_is_one_commit_with_its_audit_row_and_pushed_after_it(
    app: Flask, staff: Callable[[str], Staff], monkeypatch: pytest.MonkeyPatch
) -> None:
    casey, riley = staff("clinician1"), staff("frontdesk")
    with count_commits(engine_of(app)) as commits:
        monkeypatch.setattr(chat, "notify", commits.spy("notify"))
        sent = casey.ok("staff_chat.send", {"to_user_id": riley.id, "body": "call me"})
    # The message, its audit row and Casey's first read marker of the DM: one commit,
    # then one push to each of the pair.
    assert commits.count == 1
    assert commits.calls == [("notify", 1), ("notify", 1)]
    (entry,) = sent_audits(app)
    assert (entry.target, entry.details) == (sent["channel"], {"message_id": sent["id"]})
    assert casey.channels()[sent["channel"]]["last_read_id"] == sent["id"]


def test_a_colliding_read_marker_loses_neither_the_message_nor_its_audit_row(
    app: Flask, staff: Callable[[str], Staff], monkeypatch: pytest.MonkeyPatch
) -> None:
    casey, riley = staff("clinician1"), staff("frontdesk")
    moved = chat._moved_marker
    attempts: list[int] = []

    def collide_once(user_id: int, channel: str, message_id: int) -> ChatReadMarker:
        marker = moved(user_id, channel, message_id)
        attempts.append(message_id)
        if len(attempts) == 1:  # as when another page created the same marker meanwhile
            raise IntegrityError("INSERT INTO staff_chat_read_marker", {}, Exception("taken"))
        return marker

    monkeypatch.setattr(chat, "_moved_marker", collide_once)
    with count_commits(engine_of(app)) as commits:
        sent = casey.ok("staff_chat.send", {"to_user_id": riley.id, "body": "still here?"})
    assert len(attempts) == 2 and commits.count == 1
    assert [m.id for m in messages_in(app, sent["channel"])][-1] == sent["id"]
    assert [e.details for e in sent_audits(app)] == [{"message_id": sent["id"]}]


def test_mark_read_is_one_commit_and_pushed_after_it(
    app: Flask, staff: Callable[[str], Staff], monkeypatch: pytest.MonkeyPatch
) -> None:
    riley = staff("frontdesk")
    with count_commits(engine_of(app)) as commits:
        monkeypatch.setattr(chat, "notify", commits.spy("notify"))
        read = riley.ok("staff_chat.mark_read", {"channel": PRACTICE})
    assert read["unread"] == 0
    assert commits.count == 1 and commits.calls == [("notify", 1)]
    assert riley.channels()[PRACTICE]["unread"] == 0  # kept, as a new request reads it


def test_direct_messages_reach_only_the_pair_and_others_can_never_read_them(
    app: Flask, staff: Callable[[str], Staff]
) -> None:
    casey, riley, jordan = staff("clinician1"), staff("frontdesk"), staff("clinician2")
    key = dm_key(casey.id, riley.id)
    for user in (casey, riley, jordan):
        user.received()

    first = casey.ok("staff_chat.send", {"to_user_id": riley.id, "body": "Is my 2:00 here?"})
    reply = riley.ok("staff_chat.send", {"channel": key, "body": "Yes, checked in."})
    assert first["channel"] == reply["channel"] == key
    assert casey.received() == [first, reply]
    assert riley.received() == [first, reply]
    assert jordan.received() == []
    assert jordan.received(READ) == []

    # Jordan has no conversation with that key, and every way in is refused.
    assert key not in jordan.channels()
    assert dm_key(jordan.id, casey.id) in jordan.channels()
    jordan.error("staff_chat.history", {"channel": key}, "forbidden")
    jordan.error("staff_chat.mark_read", {"channel": key}, "forbidden")
    jordan.error("staff_chat.send", {"channel": key, "body": "let me in"}, "forbidden")
    # Keys that are not canonical are not channels at all.
    for forged in (f"dm:{riley.id}-{casey.id}", f"dm:{casey.id}-{casey.id}", "dm:0-1", "dm:1-x"):
        jordan.error("staff_chat.history", {"channel": forged}, "invalid")
    assert [m.id for m in messages_in(app, key)][-2:] == [first["id"], reply["id"]]
    assert casey.received() == riley.received() == jordan.received() == []

    # The pair can read it.
    history = casey.ok("staff_chat.history", {"channel": key})
    assert [m["body"] for m in history["messages"]][-2:] == ["Is my 2:00 here?", "Yes, checked in."]


# --- unread counts ---------------------------------------------------------------------


def test_unread_counts_follow_new_messages_and_mark_read(
    app: Flask, staff: Callable[[str], Staff]
) -> None:
    casey, riley = staff("clinician1"), staff("frontdesk")
    key = dm_key(casey.id, riley.id)
    before = riley.channels()
    mine_before = casey.channels()
    # The demo practice: others' practice messages and Casey's DM wait for Riley.
    assert before[PRACTICE]["unread"] == len([m for m in DEMO_PRACTICE if m[0] != "frontdesk"])
    assert before[key]["unread"] == 1 and before[key]["title"] == "Casey Morgan"
    assert list(before)[0] == PRACTICE and before[PRACTICE]["kind"] == "practice"
    assert {c["kind"] for k, c in before.items() if k != PRACTICE} == {"dm"}

    sent = [
        casey.ok("staff_chat.send", {"channel": PRACTICE, "body": f"note {n}"}) for n in range(2)
    ]
    direct = casey.ok("staff_chat.send", {"to_user_id": riley.id, "body": "call me"})
    after = riley.channels()
    assert after[PRACTICE]["unread"] == before[PRACTICE]["unread"] + 2
    assert after[key]["unread"] == before[key]["unread"] + 1
    assert after[PRACTICE]["last_message"] == sent[-1]
    assert after[key]["last_message"] == direct
    assert list(after)[1] == key  # the latest conversation comes first after the practice
    # Your own messages are never unread, and sending reads the channel for you.
    mine = casey.channels()
    assert mine[key]["unread"] == 0 and mine[key]["last_read_id"] == direct["id"]
    assert mine[PRACTICE]["unread"] == 0 < mine_before[PRACTICE]["unread"]

    riley.received(READ)
    read = riley.ok("staff_chat.mark_read", {"channel": PRACTICE, "up_to_id": sent[0]["id"]})
    assert read == {"channel": PRACTICE, "last_read_id": sent[0]["id"], "unread": 1}
    assert riley.received(READ) == [read]  # the user's other components follow
    assert casey.received(READ) == []
    assert riley.channels()[PRACTICE]["unread"] == 1

    # Never backwards, never past the newest message; no id means everything.
    again = riley.ok("staff_chat.mark_read", {"channel": PRACTICE, "up_to_id": 1})
    assert again["last_read_id"] == sent[0]["id"] and again["unread"] == 1
    everything = riley.ok("staff_chat.mark_read", {"channel": PRACTICE, "up_to_id": 10**9})
    assert everything == {"channel": PRACTICE, "last_read_id": sent[-1]["id"], "unread": 0}
    dm_read = riley.ok("staff_chat.mark_read", {"channel": key})
    assert dm_read == {"channel": key, "last_read_id": direct["id"], "unread": 0}
    final = riley.channels()
    assert final[PRACTICE]["unread"] == final[key]["unread"] == 0
    assert riley.ok("staff_chat.channels", {})["unread_total"] == 0

    # A new message counts again.
    casey.ok("staff_chat.send", {"channel": PRACTICE, "body": "one more"})
    assert riley.channels()[PRACTICE]["unread"] == 1


def test_a_conversation_with_a_former_colleague_stays_readable_but_closed(
    app: Flask, staff: Callable[[str], Staff]
) -> None:
    casey, riley = staff("clinician1"), staff("frontdesk")
    key = dm_key(casey.id, riley.id)
    jordan_id = _user_id(app, "clinician2")
    quiet = dm_key(casey.id, jordan_id)
    assert quiet in casey.channels()
    _set_active(app, "frontdesk", False)

    channels = casey.channels()
    assert channels[key]["active"] is False  # history exists: listed, read only
    assert quiet in channels and channels[quiet]["active"] is True
    assert casey.ok("staff_chat.history", {"channel": key})["messages"]
    casey.error("staff_chat.send", {"to_user_id": riley.id, "body": "hello?"}, "unknown_recipient")
    casey.error("staff_chat.send", {"channel": key, "body": "hello?"}, "unknown_recipient")

    _set_active(app, "clinician2", False)
    assert quiet not in casey.channels()  # no history: not listed
    casey.error("staff_chat.send", {"to_user_id": jordan_id, "body": "hi"}, "unknown_recipient")


def _user_id(app: Flask, username: str) -> int:
    with app.app_context():
        return int(db.session.scalar(select(User.id).where(User.username == username)) or 0)


def _set_active(app: Flask, username: str, active: bool) -> None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        assert user is not None
        user.active = active
        db.session.commit()


# --- history ---------------------------------------------------------------------------


def test_history_pages_backwards_oldest_first(app: Flask, staff: Callable[[str], Staff]) -> None:
    jordan, riley = staff("clinician2"), staff("frontdesk")
    key = dm_key(jordan.id, riley.id)
    empty = riley.ok("staff_chat.history", {"channel": key})
    assert empty == {
        "channel": key,
        "messages": [],
        "has_more": False,
        "last_read_id": 0,
        "unread": 0,
    }
    ids = [
        (jordan if n % 2 else riley).ok("staff_chat.send", {"channel": key, "body": f"m{n}"})["id"]
        for n in range(7)
    ]

    page = riley.ok("staff_chat.history", {"channel": key, "limit": 3})
    assert [m["id"] for m in page["messages"]] == ids[-3:]
    assert [m["body"] for m in page["messages"]] == ["m4", "m5", "m6"]
    assert page["has_more"] is True and page["unread"] == 0  # Riley wrote the last one
    page = riley.ok(
        "staff_chat.history", {"channel": key, "limit": 3, "before_id": page["messages"][0]["id"]}
    )
    assert [m["id"] for m in page["messages"]] == ids[1:4] and page["has_more"] is True
    page = riley.ok("staff_chat.history", {"channel": key, "limit": 3, "before_id": ids[1]})
    assert [m["id"] for m in page["messages"]] == ids[:1] and page["has_more"] is False
    everything = riley.ok("staff_chat.history", {"channel": key, "before_id": None})
    assert [m["id"] for m in everything["messages"]] == ids and everything["has_more"] is False

    practice = riley.ok("staff_chat.history", {"channel": PRACTICE, "limit": 100})
    assert [m["body"] for m in practice["messages"]] == [body for _who, body in DEMO_PRACTICE]
    for bad in ({"channel": key, "limit": 101}, {"channel": key, "limit": 0}, {"limit": 5}):
        riley.error("staff_chat.history", bad, "invalid")


# --- bad input -------------------------------------------------------------------------


def test_invalid_payloads_get_an_error_ack_and_store_nothing(
    app: Flask, staff: Callable[[str], Staff]
) -> None:
    casey = staff("clinician1")
    stored = count_messages(app)
    invalid: list[tuple[Any, set[str]]] = [
        ({"channel": PRACTICE, "body": ""}, {"body"}),
        ({"channel": PRACTICE, "body": " \n\t "}, {"body"}),
        ({"channel": PRACTICE, "body": "x" * 2001}, {"body"}),
        ({"channel": PRACTICE}, {"body"}),
        ({"channel": PRACTICE, "body": 42}, {"body"}),
        ({"channel": "general", "body": "hi"}, {"channel"}),
        ({"body": "nowhere"}, {"_schema"}),
        ({"channel": PRACTICE, "to_user_id": 5, "body": "both"}, {"_schema"}),
        ({"to_user_id": "5", "body": "hi"}, {"to_user_id"}),
        ({"to_user_id": 0, "body": "hi"}, {"to_user_id"}),
        ({"channel": PRACTICE, "body": "hi", "priority": "high"}, {"priority"}),
        (None, {"body"}),
    ]
    for payload, fields in invalid:
        error = casey.error("staff_chat.send", payload, "invalid")
        assert set(error["fields"]) == fields, (payload, error)
    for not_an_object in (["practice", "hi"], "hi", 7):
        casey.error("staff_chat.send", not_an_object, "invalid")
    casey.error("staff_chat.channels", {"everything": True}, "invalid")
    casey.error("staff_chat.mark_read", {"channel": PRACTICE, "up_to_id": -1}, "invalid")
    casey.error("staff_chat.mark_read", {"channel": PRACTICE, "up_to_id": "3"}, "invalid")
    casey.error("staff_chat.mark_read", {}, "invalid")

    casey.error("staff_chat.send", {"to_user_id": 999_999, "body": "hi"}, "unknown_recipient")
    casey.error("staff_chat.send", {"channel": "dm:999998-999999", "body": "hi"}, "forbidden")
    casey.error(
        "staff_chat.send", {"channel": dm_key(casey.id, 999_999), "body": "hi"}, "unknown_recipient"
    )
    casey.error("staff_chat.send", {"to_user_id": casey.id, "body": "me"}, "invalid_recipient")
    assert count_messages(app) == stored
    assert casey.received() == []

    # The longest message fits, and the socket survived all of the above.
    longest = casey.ok("staff_chat.send", {"channel": PRACTICE, "body": "y" * 2000})
    assert len(longest["body"]) == 2000 and count_messages(app) == stored + 1
    assert casey.sio.is_connected(STAFF)


# --- gating, persistence, the page -------------------------------------------------------


def test_switched_off_the_chat_refuses_and_its_page_is_gone(
    app: Flask, staff: Callable[[str], Staff]
) -> None:
    riley = staff("frontdesk")
    with app.app_context():
        set_plugin_enabled("staff_chat", False, actor="admin")
    error = riley.error("staff_chat.channels", {}, "plugin_disabled")
    assert "staff_chat" in error["message"]
    riley.error("staff_chat.send", {"channel": PRACTICE, "body": "hi"}, "plugin_disabled")
    assert riley.http.get("/chat/").status_code == 404
    home = riley.http.get("/")
    assert "staff_chat/unread.js" not in home.text and 'data-section="Staff Chat"' not in home.text
    with app.app_context():
        set_plugin_enabled("staff_chat", True, actor="admin")
    assert riley.channels()[PRACTICE]["unread"] >= 1
    assert riley.http.get("/chat/").status_code == 200


def test_messages_and_read_markers_survive_a_new_app_on_the_same_database(
    make_app: Callable[..., Flask],
) -> None:
    first = make_app()
    casey, riley = Staff(first, "clinician1"), Staff(first, "frontdesk")
    sent = casey.ok("staff_chat.send", {"to_user_id": riley.id, "body": "still there?"})
    riley.ok("staff_chat.mark_read", {"channel": PRACTICE})
    casey.close()
    riley.close()

    second = make_app()  # another worker, or the same one after a restart
    riley = Staff(second, "frontdesk")
    try:
        channels = riley.channels()
        assert channels[sent["channel"]]["last_message"] == sent
        assert channels[sent["channel"]]["unread"] == 2  # the demo DM and this one
        assert channels[PRACTICE]["unread"] == 0
        history = riley.ok("staff_chat.history", {"channel": sent["channel"]})
        assert history["messages"][-1] == sent
    finally:
        riley.close()


def test_the_page_renders_with_its_scripts_and_every_page_carries_the_badge(
    app: Flask, client: FlaskClient
) -> None:
    assert client.get("/chat/").status_code in {302, 401}  # signed out: to the login
    login(client, "frontdesk")
    page = client.get("/chat/")
    assert page.status_code == 200
    html = page.text
    assert 'id="staff-chat"' in html and 'id="staff-chat-form"' in html
    assert 'data-max="2000"' in html and 'maxlength="2000"' in html
    assert 'data-section="Staff Chat"' in html and 'data-menu="Messages"' in html
    nonce = page.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    chat_js = r'src="/plugin-static/staff_chat/staff_chat/chat\.js\?v=\w+"'
    assert re.search(rf'{chat_js} nonce="{nonce}"', html)
    assert " onclick=" not in html and " onsubmit=" not in html
    for path in ("/chat/", "/"):
        text = client.get(path).text
        assert '<script src="/plugin-static/staff_chat/staff_chat/unread.js?v=' in text, path
        assert 'href="/plugin-static/staff_chat/staff_chat/staff_chat.css?v=' in text, path
    for asset in ("unread.js", "chat.js", "staff_chat.css"):
        response = client.get(f"/plugin-static/staff_chat/staff_chat/{asset}")
        assert response.status_code == 200, asset
        response.close()


def test_the_demo_seed_adds_practice_messages_and_one_dm_once(app: Flask) -> None:
    with app.app_context():
        ids = {name: id_ for name, id_ in db.session.execute(select(User.username, User.id))}
        seed_demo()  # already seeded with the template database: a no-op
        rows = list(db.session.scalars(select(ChatMessage).order_by(ChatMessage.id)))
    sender, recipient, body = DEMO_DM
    assert [(m.channel, m.sender_id, m.body) for m in rows] == [
        *((PRACTICE, ids[who], text) for who, text in DEMO_PRACTICE),
        (dm_key(ids[sender], ids[recipient]), ids[sender], body),
    ]


# --- two workers, one Redis ------------------------------------------------------------


@pytest.mark.live
@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", [BACKENDS[-1]])  # PostgreSQL when configured
def test_a_message_sent_on_one_worker_reaches_a_user_on_another(
    live_server_factory: Callable[..., LiveServer], database_url: str, redis_url: str
) -> None:
    channel = f"backoffice-test-{uuid.uuid4().hex}"  # no cross-talk with other runs
    worker_a, worker_b = (
        live_server_factory(
            async_mode="eventlet",
            database_url=database_url,
            message_queue=redis_url,
            BACKOFFICE_SOCKETIO_CHANNEL=channel,
        )
        for _ in range(2)
    )
    clients = Clients()
    try:
        casey = clients.staff(worker_a.url, live_login(worker_a.url, "clinician1"))
        riley = clients.staff(worker_b.url, live_login(worker_b.url, "frontdesk"))
        jordan = clients.staff(worker_b.url, live_login(worker_b.url, "clinician2"))
        snapshot = riley.call("staff_chat.channels", {})["data"]
        riley_id = snapshot["me"]["id"]
        unread = {c["key"]: c["unread"] for c in snapshot["channels"]}

        started = time.monotonic()
        ack = casey.call("staff_chat.send", {"channel": PRACTICE, "body": "hello from A"})
        assert ack["ok"] is True, ack
        pushed, waited = riley.watch.wait_for(MESSAGE, 5.0, lambda m: m["id"] == ack["data"]["id"])
        assert pushed == ack["data"]
        print(f"practice message reached worker B after {waited:.2f}s")
        jordan.watch.wait_for(MESSAGE, 5.0, lambda m: m["id"] == ack["data"]["id"])

        direct = casey.call("staff_chat.send", {"to_user_id": riley_id, "body": "only you"})
        assert direct["ok"] is True, direct
        riley.watch.wait_for(MESSAGE, 5.0, lambda m: m["id"] == direct["data"]["id"])
        reply = riley.call("staff_chat.send", {"channel": direct["data"]["channel"], "body": "ok"})
        casey.watch.wait_for(MESSAGE, 5.0, lambda m: m["id"] == reply["data"]["id"])
        after = riley.call("staff_chat.channels", {})["data"]
        counts = {c["key"]: c["unread"] for c in after["channels"]}
        assert counts[PRACTICE] == unread[PRACTICE] + 1
        assert counts[direct["data"]["channel"]] == 0  # Riley replied, so read it
        # The DM never reached Jordan, who shares worker B with Riley.
        ids = {data["id"] for name, data in jordan.watch.events if name == MESSAGE}
        assert direct["data"]["id"] not in ids and reply["data"]["id"] not in ids
        print(f"round trip over two workers in {time.monotonic() - started:.2f}s")
    finally:
        clients.close()
