"""The security model: the login gate, one session per user, idle logoff, audit, headers."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_appbuilder.api import BaseApi, expose, protect
from flask_jwt_extended import create_access_token
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from core import access
from core.database import db
from core.models import AuditEntry
from core.realtime import socketio_of
from tests.conftest import TEST_PASSWORD, csrf_token_from, login

ROLES = ("Admin", "Security Admin", "Practice Admin", "Clinician", "Staff")


def audit_actions(app: Flask, action: str) -> list[AuditEntry]:
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
        db.session.expunge_all()
        return list(entries)


def user(app: Flask, username: str) -> Any:
    return app.extensions["appbuilder"].sm.find_user(username=username)


def post_form(client: FlaskClient, page: str, url: str, data: dict[str, str]) -> Any:
    token = csrf_token_from(client.get(page).text)
    return client.post(url, data={**data, "csrf_token": token})


def staff_socket(app: Flask, client: FlaskClient) -> Any:
    return socketio_of(app).test_client(app, namespace="/staff", flask_test_client=client)


def events(sio: Any, name: str) -> list[Any]:
    """What the server sent on /staff, also to a socket it has since disconnected (a login
    that ends takes its sockets): the test client keeps those in its queue."""
    if sio.is_connected("/staff"):
        packets = sio.get_received("/staff")
    else:
        packets = [p for p in sio.queue if p["namespace"] == "/staff"]
        sio.queue = [p for p in sio.queue if p["namespace"] != "/staff"]
    return [e["args"][0] for e in packets if e["name"] == name]


def test_roles_exist(app: Flask) -> None:
    with app.app_context():
        sm = app.extensions["appbuilder"].sm
        assert all(sm.find_role(name) is not None for name in ROLES)


def test_successful_login_is_audited(app: Flask, client: FlaskClient) -> None:
    page = login(client, "clinician1")
    assert 'id="bo-username">clinician1<' in page.text
    [entry] = audit_actions(app, "auth.login")
    assert entry.actor == "clinician1" and entry.ip == "127.0.0.1"


def test_wrong_password_is_refused_and_audited(app: Flask, client: FlaskClient) -> None:
    page = login(client, "clinician1", "wrong-password")
    assert "Invalid login" in page.text
    [entry] = audit_actions(app, "auth.login_failed")
    assert entry.target == "clinician1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("inactive", "Your account is disabled"),
        ("telehealth_off", "not enabled for telehealth"),
        ("rule_off", "group rule turned on"),
    ],
)
def test_login_gate_says_why(app: Flask, client: FlaskClient, change: str, message: str) -> None:
    with app.app_context():
        clinician = user(app, "clinician1")
        if change == "inactive":
            clinician.active = False
            db.session.commit()
        elif change == "telehealth_off":
            access.set_telehealth(clinician, False)
        else:
            rule = access.CORE_RULES[0]
            access.set_rule(app.extensions["appbuilder"].sm.find_role("Clinician"), rule, False)
    page = login(client, "clinician1")
    assert message in page.text
    assert 'id="bo-username"' not in page.text
    [entry] = audit_actions(app, "auth.login_refused")
    assert message.split("'")[0] in entry.details["reason"]


def test_security_admin_disabling_telehealth_ends_the_live_session(
    app: Flask, make_app: Callable[..., Flask]
) -> None:
    clinician, admin = app.test_client(), app.test_client()
    login(clinician, "clinician1")
    sio = staff_socket(app, clinician)
    assert sio.is_connected("/staff")
    login(admin, "secadmin")
    with app.app_context():
        clinician_id = str(user(app, "clinician1").id)
    response = post_form(
        admin, "/security/telehealth/", f"/security/telehealth/{clinician_id}", {"enabled": "0"}
    )
    assert response.status_code == 302
    [ended] = events(sio, "core.session_ended")
    assert ended["reason"] == "revoked"
    page = clinician.get("/", follow_redirects=True)
    assert "access to the back office changed" in page.text
    assert "/login/" in page.request.path
    [entry] = audit_actions(app, "security.telehealth_changed")
    assert (entry.actor, entry.target, entry.details) == (
        "secadmin",
        "clinician1",
        {"before": True, "after": False},
    )


def test_group_rule_switch_from_the_page(app: Flask, client: FlaskClient) -> None:
    clinician = app.test_client()
    login(clinician, "clinician1")
    login(client, "secadmin")
    assert "Telehealth Back Office access" in client.get("/security/group-rules/").text
    response = post_form(
        client,
        "/security/group-rules/",
        "/security/group-rules/switch",
        {"role": "Clinician", "rule": access.TELEHEALTH_RULE, "enabled": "0"},
    )
    assert response.status_code == 302
    assert "/login/" in clinician.get("/", follow_redirects=True).request.path
    assert "group rule" in login(app.test_client(), "clinician2").text
    bad = post_form(
        client,
        "/security/group-rules/",
        "/security/group-rules/switch",
        {"role": "Nobody", "rule": access.TELEHEALTH_RULE, "enabled": "0"},
    )
    assert bad.status_code == 400
    [entry] = audit_actions(app, "security.group_rule_changed")
    assert entry.details == {
        "role": "Clinician",
        "rule": access.TELEHEALTH_RULE,
        "before": True,
        "after": False,
    }


def test_a_new_login_ends_the_older_session(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    login(first, "clinician1")
    sio = staff_socket(app, first)
    login(second, "clinician1")
    [ended] = events(sio, "core.session_ended")
    assert ended["reason"] == "signed_in_elsewhere"
    page = first.get("/tools/speedtest/", follow_redirects=True)
    assert "/login/" in page.request.path
    assert "signed in on another browser or device" in page.text
    assert second.get("/tools/speedtest/").status_code == 200
    refused = staff_socket(app, first)
    assert not refused.is_connected("/staff")


def test_a_second_tab_is_told_and_can_take_over(app: Flask, client: FlaskClient) -> None:
    login(client, "clinician1")
    first_tab = staff_socket(app, client)
    second_tab = staff_socket(app, client)
    [told] = events(first_tab, "core.open_elsewhere")
    assert "open in another tab" in told["message"]
    assert events(second_tab, "core.open_elsewhere") == []
    ack = first_tab.emit("core.use_here", {}, namespace="/staff", callback=True)
    assert ack == {"ok": True, "data": None}
    assert len(events(second_tab, "core.open_elsewhere")) == 1
    assert events(first_tab, "core.open_elsewhere") == []


def test_a_companion_window_neither_takes_the_live_tab_nor_is_told(
    app: Flask, client: FlaskClient
) -> None:
    login(client, "clinician1")
    page = staff_socket(app, client)
    companion = socketio_of(app).test_client(
        app, namespace="/staff", flask_test_client=client, auth={"companion": True}
    )
    assert companion.is_connected("/staff")
    assert events(page, "core.open_elsewhere") == []
    live = staff_socket(app, client)  # a real second tab
    assert len(events(page, "core.open_elsewhere")) == 1
    for not_a_flag in ({"companion": "yes"}, ["companion"], "companion"):
        tab = socketio_of(app).test_client(
            app, namespace="/staff", flask_test_client=client, auth=not_a_flag
        )
        assert tab.is_connected("/staff")
        assert len(events(live, "core.open_elsewhere")) == 1, not_a_flag
        live = tab
    assert events(companion, "core.open_elsewhere") == []


def test_idle_logoff(make_app: Callable[..., Flask]) -> None:
    app = make_app(SESSION_IDLE_TIMEOUT=1.0)
    client = app.test_client()
    login(client, "clinician1")
    time.sleep(1.3)
    page = client.get("/", follow_redirects=True)
    assert "/login/" in page.request.path
    assert "period of inactivity" in page.text
    [entry] = audit_actions(app, "auth.session_ended")
    assert entry.details == {"reason": "idle"}


def test_keepalive_counts_as_activity(make_app: Callable[..., Flask]) -> None:
    app = make_app(SESSION_IDLE_TIMEOUT=1.5)
    client = app.test_client()
    page = login(client, "clinician1")
    token = csrf_token_from(page.text) if 'name="csrf_token"' in page.text else None
    headers = {"X-CSRFToken": token or _csrf_from_session_div(page.text)}
    for _ in range(3):
        time.sleep(0.8)
        assert client.post("/session/keepalive", headers=headers).status_code == 200
    assert client.get("/").status_code == 200


def _csrf_from_session_div(html: str) -> str:
    marker = 'data-csrf="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_absolute_session_lifetime(make_app: Callable[..., Flask]) -> None:
    app = make_app(SESSION_LIFETIME=1.0)
    client = app.test_client()
    login(client, "clinician1")
    time.sleep(1.3)
    page = client.get("/", follow_redirects=True)
    assert "maximum length" in page.text


def test_logout_is_audited_and_ends_the_session(app: Flask, client: FlaskClient) -> None:
    login(client, "clinician1")
    client.get("/logout/")
    assert client.get("/tools/speedtest/").status_code in {302, 401, 403}
    [entry] = audit_actions(app, "auth.logout")
    assert entry.actor == "clinician1"


def test_audit_log_refuses_update_and_delete_in_the_database(app: Flask) -> None:
    with app.app_context():
        from core import audit

        audit.record("test.entry", target="x")
        for statement in ("UPDATE bo_audit_log SET action = 'forged'", "DELETE FROM bo_audit_log"):
            with pytest.raises(DatabaseError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert (
            db.session.scalar(text("SELECT count(*) FROM bo_audit_log WHERE action = 'test.entry'"))
            == 1
        )


def test_audit_view_filters_and_exports_csv(app: Flask, client: FlaskClient) -> None:
    login(app.test_client(), "clinician1", "wrong")
    login(client, "secadmin")
    listing = client.get("/security/audit/list/")
    assert listing.status_code == 200 and "auth.login_failed" in listing.text
    export = client.get("/security/audit/export.csv?_flt_0_action=auth.login_failed")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = export.text.strip().splitlines()
    assert rows[0] == "at,actor,action,target,source,ip,details"
    assert len(rows) == 2 and ",auth.login_failed,clinician1," in rows[1]
    assert client.get("/security/audit/edit/1").status_code in {403, 404, 405}
    assert client.post("/security/audit/delete/1").status_code in {400, 403, 404, 405}


def test_clinicians_cannot_read_the_audit_log(client: FlaskClient) -> None:
    login(client, "clinician1")
    assert client.get("/security/audit/list/").status_code in {302, 403}
    assert client.get("/security/telehealth/").status_code in {302, 403}


def test_security_headers_and_cookie_flags(client: FlaskClient) -> None:
    response = login(client, "clinician1")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'self'" in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.text
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_dock_sites_are_allowed_frames(make_app: Callable[..., Flask]) -> None:
    app = make_app(DOCK_SITES={"Upload Site": "https://upload.example.org/start"})
    policy = app.test_client().get("/login/").headers["Content-Security-Policy"]
    assert "frame-src 'self' https://upload.example.org" in policy


def test_login_is_rate_limited(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATELIMIT_ENABLED=True, AUTH_RATE_LIMITED=True, AUTH_RATE_LIMIT="3 per minute")
    client = app.test_client()
    codes = [login(client, "clinician1", "wrong").status_code for _ in range(4)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3] == 429


def test_forms_need_csrf(client: FlaskClient) -> None:
    assert client.post("/login/", data={"username": "admin", "password": "x"}).status_code == 400


def test_login_rate_limit_is_shared_through_redis(
    make_app: Callable[..., Flask], redis_url: str
) -> None:
    """Two workers count failed logins together when the limiter uses Redis."""
    import uuid

    settings = {
        "RATELIMIT_ENABLED": True,
        "AUTH_RATE_LIMITED": True,
        "AUTH_RATE_LIMIT": "3 per minute",
        "SOCKETIO_MESSAGE_QUEUE": redis_url,
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
    }
    first, second = make_app(**settings), make_app(**settings)
    assert first.config["RATELIMIT_STORAGE_URI"] == redis_url
    codes = [login(app.test_client(), "clinician1", "wrong").status_code for app in (first, second)]
    codes += [login(first.test_client(), "clinician1", "wrong").status_code]
    assert codes == [200, 200, 200]
    assert login(second.test_client(), "clinician1", "wrong").status_code == 429


def test_deactivating_a_user_in_the_user_admin_ends_their_session(app: Flask) -> None:
    clinician, admin = app.test_client(), app.test_client()
    login(clinician, "clinician1")
    sio = staff_socket(app, clinician)
    login(admin, "secadmin")
    with app.app_context():
        target = user(app, "clinician1")
        user_id, role_ids = target.id, [str(role.id) for role in target.roles]
    page = admin.get(f"/users/edit/{user_id}")
    assert page.status_code == 200
    response = admin.post(
        f"/users/edit/{user_id}",
        data={
            "first_name": "Casey",
            "last_name": "Morgan",
            "username": "clinician1",
            "email": "clinician1@demo.practice",
            "roles": role_ids,
            "csrf_token": csrf_token_from(page.text),
        },  # "active" left out: the checkbox is cleared
    )
    assert response.status_code == 302
    [ended] = events(sio, "core.session_ended")
    assert ended["reason"] == "revoked"
    assert "/login/" in clinician.get("/", follow_redirects=True).request.path
    [entry] = audit_actions(app, "security.user_changed")
    assert entry.actor == "secadmin" and entry.details["active"] is False


def test_role_permission_changes_are_audited(app: Flask, client: FlaskClient) -> None:
    login(client, "secadmin")
    with app.app_context():
        sm = app.extensions["appbuilder"].sm
        staff = sm.find_role("Staff")
        granted = [str(pv.id) for pv in staff.permissions]
        extra = sm.find_permission_view_menu("can_read", "AuditLog")
        role_id, extra_id = staff.id, str(extra.id)
    page = client.get(f"/roles/edit/{role_id}")
    assert page.status_code == 200
    response = client.post(
        f"/roles/edit/{role_id}",
        data={
            "name": "Staff",
            "permissions": [*granted, extra_id],
            "csrf_token": csrf_token_from(page.text),
        },
    )
    assert response.status_code == 302
    [entry] = audit_actions(app, "security.role_changed")
    assert entry.actor == "secadmin" and entry.target == "Staff"
    assert entry.details == {"granted": ["can read on AuditLog"], "revoked": []}


def test_notify_by_permission_reaches_only_holders(app: Flask) -> None:
    from core.api import notify

    holders, others = app.test_client(), app.test_client()
    login(holders, "secadmin")
    login(others, "clinician1")
    holder_socket, other_socket = staff_socket(app, holders), staff_socket(app, others)
    with app.app_context():
        notify("test.private", {"n": 1}, permission=("can_read", "AuditLog"))
        with pytest.raises(ValueError, match="give no room"):
            notify("test.private", {}, room="staff", permission=("can_read", "AuditLog"))
    assert events(holder_socket, "test.private") == [{"n": 1}]
    assert events(other_socket, "test.private") == []


def test_revoking_a_role_permission_restarts_its_users_sessions(app: Flask) -> None:
    clinician, admin = app.test_client(), app.test_client()
    login(clinician, "clinician1")
    sio = staff_socket(app, clinician)
    login(admin, "secadmin")
    with app.app_context():
        role = app.extensions["appbuilder"].sm.find_role("Clinician")
        role_id = role.id
        kept = [str(pv.id) for pv in role.permissions if pv.view_menu.name != "SpeedTest"]
    page = admin.get(f"/roles/edit/{role_id}")
    admin.post(
        f"/roles/edit/{role_id}",
        data={"name": "Clinician", "permissions": kept, "csrf_token": csrf_token_from(page.text)},
    )
    [ended] = events(sio, "core.session_ended")
    assert ended["reason"] == "permissions_changed"


def test_staff_members_for_plugins(app: Flask) -> None:
    from core.api import staff_members

    with app.app_context():
        clinicians = staff_members("Clinician")
        access.set_telehealth(user(app, "clinician2"), False)
        after = {m.username: m.can_log_in for m in staff_members("Clinician")}
    assert [m.username for m in clinicians] == ["clinician1", "clinician2"]
    assert clinicians[0].name == "Casey Morgan" and clinicians[0].roles == ("Clinician",)
    assert after == {"clinician1": True, "clinician2": False}


# --- FAB's token API: a second door, kept shut -------------------------------------------

TOKEN_ROUTES = ("/api/v1/security/login", "/api/v1/security/refresh")
EVERY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def test_fab_token_api_issues_no_token_to_anyone(make_app: Callable[..., Flask]) -> None:
    """FAB 5 serves its JWT login whatever FAB_ADD_SECURITY_API says; here it must not."""
    app = make_app(RATELIMIT_ENABLED=True)
    signed_in = app.test_client()
    login(signed_in, "admin")
    credentials = {"username": "admin", "password": TEST_PASSWORD, "provider": "db"}
    bodies = (None, credentials, {**credentials, "refresh": True})
    for client in (app.test_client(), signed_in):
        for path in TOKEN_ROUTES:
            for method in EVERY_METHOD:
                for body in bodies:
                    answer = client.open(path, method=method, json=body)
                    assert answer.status_code in {404, 405}, (path, method, answer.status_code)
                    assert b"_token" not in answer.data, (path, method, answer.data[:200])
    assert [e.actor for e in audit_actions(app, "auth.login")] == ["admin"]


class ProbeApi(BaseApi):
    """A plugin's API, one route taking the login cookie (which the guide forbids)."""

    resource_name = "probe"

    @expose("/cookie", methods=["GET", "POST"])
    @protect(allow_browser_login=True)
    def cookie(self) -> Any:
        return self.response(200, reached=True)

    @expose("/token", methods=["GET", "POST"])
    @protect()
    def token(self) -> Any:
        return self.response(200, reached=True)


def api_rules(app: Flask) -> list[Any]:
    apis = {v.endpoint for v in app.extensions["appbuilder"].baseviews if isinstance(v, BaseApi)}
    return [r for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] in apis]


def test_no_api_takes_a_jwt_or_the_login_cookie(make_app: Callable[..., Flask]) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    with app.app_context():
        sm = app.extensions["appbuilder"].sm
        probe = app.extensions["appbuilder"].add_api(ProbeApi)
        sm.add_permissions_view(probe.base_permissions, probe.class_permission_name)  # to Admin
        db.session.commit()
        admin_token = create_access_token(identity=str(user(app, "admin").id), fresh=True)
    cookie = app.test_client()
    login(cookie, "admin")
    bearer = {"Authorization": f"Bearer {admin_token}"}
    rules = api_rules(app)
    assert {"ProbeApi.cookie", "ProbeApi.token"} <= {r.endpoint for r in rules}
    for rule in rules:
        url = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            by_cookie = cookie.open(url, method=method)
            by_token = app.test_client().open(url, method=method, headers=bearer)
            assert by_cookie.status_code in {401, 403}, (url, method, by_cookie.status_code)
            assert by_token.status_code in {401, 403}, (url, method, by_token.status_code)
    assert cookie.post("/session/keepalive").status_code == 200  # the browser session lives


# --- account lockout ----------------------------------------------------------------------


def fresh_prefix() -> str:
    """Counters in a shared Redis outlive a test: each test counts under its own prefix."""
    return f"test-{uuid.uuid4().hex}"


def wrong_logins(app: Flask, username: str, times: int) -> list[int]:
    client = app.test_client()
    return [login(client, username, "wrong-password").status_code for _ in range(times)]


def signed_in_as(page: Any, username: str) -> bool:
    return f'id="bo-username">{username}<' in page.text


def test_wrong_passwords_lock_the_account_not_the_office(make_app: Callable[..., Flask]) -> None:
    """The defaults: ten wrong passwords lock that account; everyone else behind the same
    address still signs in."""
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_KEY_PREFIX=fresh_prefix())
    assert wrong_logins(app, "clinician1", 10) == [200] * 10
    for typed in ("clinician1", "CLINICIAN1"):
        locked = login(app.test_client(), typed)  # the right password, too late
        assert locked.status_code == 200 and not signed_in_as(locked, "clinician1")
        assert "locked after too many failed sign-ins" in locked.text
    assert signed_in_as(login(app.test_client(), "clinician2"), "clinician2")
    assert signed_in_as(login(app.test_client(), "frontdesk"), "frontdesk")
    [entry] = audit_actions(app, "auth.account_locked")
    assert (entry.target, entry.details["limit"]) == ("clinician1", "10 per 5 minute")
    refused = audit_actions(app, "auth.login_refused")
    assert [e.details for e in refused] == [{"reason": "locked"}] * 2


def test_both_login_limits_are_configurable(make_app: Callable[..., Flask]) -> None:
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_KEY_PREFIX=fresh_prefix(),
        AUTH_RATE_LIMIT="5 per minute",
        AUTH_ACCOUNT_RATE_LIMIT="2 per minute",
    )
    client = app.test_client()
    assert wrong_logins(app, "clinician1", 2) == [200, 200]
    assert "locked after" in login(client, "clinician1").text
    assert signed_in_as(login(app.test_client(), "clinician2"), "clinician2")
    assert wrong_logins(app, "frontdesk", 1) == [200]
    assert login(app.test_client(), "frontdesk").status_code == 429  # 6th from the address


def test_a_correct_password_starts_the_count_afresh(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATELIMIT_ENABLED=True, AUTH_ACCOUNT_RATE_LIMIT="3 per minute")
    wrong_logins(app, "clinician1", 2)
    assert signed_in_as(login(app.test_client(), "clinician1"), "clinician1")
    wrong_logins(app, "clinician1", 2)
    assert signed_in_as(login(app.test_client(), "clinician1"), "clinician1")
    assert audit_actions(app, "auth.account_locked") == []


def test_security_admins_see_and_unlock_locked_accounts(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATELIMIT_ENABLED=True, AUTH_ACCOUNT_RATE_LIMIT="2 per minute")
    wrong_logins(app, "clinician1", 2)
    wrong_logins(app, "nobody-here", 2)
    admin = app.test_client()
    login(admin, "secadmin")
    assert "Locked Accounts" in admin.get("/").text
    page = admin.get("/security/locked-accounts/")
    assert page.status_code == 200
    assert 'data-account="clinician1"' in page.text and "Casey Morgan" in page.text
    assert 'data-account="nobody-here"' in page.text and "no such user" in page.text
    unlock = {"account": "clinician1"}
    url = "/security/locked-accounts/unlock"
    assert post_form(admin, "/security/locked-accounts/", url, unlock).status_code == 302
    assert 'data-account="clinician1"' not in admin.get("/security/locked-accounts/").text
    assert signed_in_as(login(app.test_client(), "clinician1"), "clinician1")
    [entry] = audit_actions(app, "auth.account_unlocked")
    assert (entry.actor, entry.target) == ("secadmin", "clinician1")
    again = post_form(admin, "/security/locked-accounts/", url, unlock)
    assert again.status_code == 404
    both = app.test_client()
    login(both, "admin")
    assert 'data-account="nobody-here"' in both.get("/security/locked-accounts/").text


def test_only_security_admins_and_admins_reach_locked_accounts(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    for username in ("clinician1", "frontdesk", "practiceadmin"):
        client = app.test_client()
        login(client, username)
        assert client.get("/security/locked-accounts/").status_code in {302, 403}, username
        unlock = client.post("/security/locked-accounts/unlock", data={"account": "clinician1"})
        assert unlock.status_code in {302, 403}, username
    for username in ("admin", "secadmin"):
        client = app.test_client()
        login(client, username)
        assert client.get("/security/locked-accounts/").status_code == 200, username


def test_lockouts_are_shared_through_redis(make_app: Callable[..., Flask], redis_url: str) -> None:
    settings = {
        "RATELIMIT_ENABLED": True,
        "SOCKETIO_MESSAGE_QUEUE": redis_url,
        "RATELIMIT_KEY_PREFIX": fresh_prefix(),
        "AUTH_ACCOUNT_RATE_LIMIT": "2 per minute",
    }
    first, second = make_app(**settings), make_app(**settings)
    wrong_logins(first, "clinician1", 1)
    wrong_logins(second, "clinician1", 1)
    assert "locked after" in login(first.test_client(), "clinician1").text
    admin = second.test_client()
    login(admin, "secadmin")
    url = "/security/locked-accounts/unlock"
    answer = post_form(admin, "/security/locked-accounts/", url, {"account": "clinician1"})
    assert answer.status_code == 302
    assert signed_in_as(login(first.test_client(), "clinician1"), "clinician1")
