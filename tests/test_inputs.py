"""The host's input guard: what no route or event should ever see is refused at the edge."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from core.realtime import socketio_of
from tests.conftest import login


def test_ids_beyond_an_integer_column_are_not_found(client: FlaskClient) -> None:
    login(client, "admin")
    assert client.get("/calendar/appointments/1").status_code != 404
    assert client.get("/calendar/appointments/" + "9" * 30).status_code == 404
    assert client.post("/security/telehealth/" + "9" * 30).status_code == 404


def test_text_that_cannot_be_stored_is_refused_with_the_reason(client: FlaskClient) -> None:
    nul = client.get("/wait/", query_string={"code": "demo\x00practice"})
    assert nul.status_code == 400
    assert "cannot be stored" in nul.get_json()["error"]
    surrogate = client.post(
        "/wait/demo-practice/enter",
        data=json.dumps({"name": "Pat \ud83d"}),
        content_type="application/json",
    )
    assert surrogate.status_code == 400
    assert "cannot be stored" in surrogate.get_json()["error"]


def test_a_json_body_must_be_an_object(client: FlaskClient) -> None:
    for body in ("[1, 2]", '"text"', "5", "{not json", '{"a":' * 100_000 + "1" + "}" * 100_000):
        response = client.post(
            "/wait/demo-practice/enter", data=body, content_type="application/json"
        )
        assert response.status_code == 400, body[:20]
        assert response.get_json()["error"], body[:20]


def test_generated_admin_views_answer_hand_made_requests_with_4xx(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    admin = app.test_client()
    login(admin, "admin")
    unknown = admin.post("/users/action_post", data={"action": "drop-tables", "rowid": "1"})
    assert unknown.status_code == 400
    assert "no action named 'drop-tables'" in unknown.get_json()["error"]
    assert admin.get("/users/list/?page_UserDBModelView=abc").status_code == 400
    assert admin.get("/users/list/?psize_UserDBModelView=99999999").status_code == 400
    assert admin.get("/users/list/?page_UserDBModelView=0").status_code == 200
    assert admin.get("/users/download/no-such-file").status_code == 404
    as_json = admin.post("/roles/add", json={"name": 5})
    assert as_json.status_code == 400
    assert "form fields are text" in as_json.get_json()["error"]


def test_socket_payloads_with_unstorable_text_get_an_error_ack(
    app: Flask, client: FlaskClient
) -> None:
    login(client, "clinician1")
    sio = socketio_of(app).test_client(app, namespace="/staff", flask_test_client=client)
    ack = sio.emit(
        "staff_chat.send",
        {"channel": "practice", "body": "hi \x00"},
        namespace="/staff",
        callback=True,
    )
    assert ack["ok"] is False and ack["error"]["code"] == "invalid"
    assert "cannot be stored" in ack["error"]["message"]
    assert sio.is_connected("/staff")
    fine = sio.emit(
        "staff_chat.send", {"channel": "practice", "body": "hi"}, namespace="/staff", callback=True
    )
    assert fine["ok"] is True, fine


def test_long_usernames_are_audited_cut_to_the_column(client: FlaskClient, app: Flask) -> None:
    from sqlalchemy import select

    from core.database import db
    from core.models import AuditEntry

    response = login(client, "x" * 500, "wrong")
    assert response.status_code == 200
    with app.app_context():
        entry = db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "auth.login_failed")
            .order_by(AuditEntry.id)
        ).all()[-1]
        assert entry.actor is not None and len(entry.actor) == 100 and entry.actor.endswith("…")


def test_generated_lists_refuse_query_keys_they_would_crash_on(client: FlaskClient) -> None:
    login(client, "admin")
    refused = {
        "/users/list/?_method=x": "'_method' is not a query parameter",
        "/security/audit/list/?endpoint=x": "'endpoint' is not a query parameter",
        "/consent/templates/list/?_method=": "'_method' is not a query parameter",
        "/users/list/?_flt_5_roles=1": "column 'roles' has filters 0 to 0",
        "/users/list/?_flt_0_login_count=" + "9" * 30: "at most 64 bits",
        "/users/list/?_flt_0_active=maybe": 'takes "y"',
        "/users/list/?homepage_x=abc": "homepage_x must be a page number",
        "/users/list/?_oc_AuditedUserView=password&_od_AuditedUserView=asc": "sorted by 'password'",
        "/roles/show/1?_oc_AuditedUserView=nope&_od_AuditedUserView=asc": "sorted by 'nope'",
        # FAB offers to sort by this Python property, which SQL cannot do.
        "/consent/templates/list/?_oc_MessageTemplateView=purpose_label"
        "&_od_MessageTemplateView=asc": "sorted by 'purpose_label'",
    }
    for url, message in refused.items():
        answer = client.get(url)
        assert answer.status_code == 400, url
        assert message in answer.get_json()["error"], url
    accepted = (
        "/users/list/?_flt_0_roles=1&_flt_0_active=y&_flt_0_login_count=3",
        "/users/list/?_oc_AuditedUserView=username&_od_AuditedUserView=desc",
        "/users/list/?_oc_AuditedUserView=nope",  # no direction: FAB ignores the sort
        "/roles/show/1?_oc_AuditedUserView=email&_od_AuditedUserView=asc",
        "/security/audit/export.csv?_flt_0_action=auth.login",
    )
    for url in accepted:
        assert client.get(url).status_code == 200, url
