"""Every registered route and Socket.IO event × every role, anonymous and a patient token.

The matrix is generated from the app itself: a route or event that gains no permission
decision below (a FAB permission, or one of the explicit public/staff lists) fails the
test, so nothing new ships unguarded by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from core.realtime import NAMESPACES, socketio_of
from tests.conftest import login

IDENTITIES = {
    "Admin": "admin",
    "Security Admin": "secadmin",
    "Practice Admin": "practiceadmin",
    "Clinician": "clinician1",
    "Staff": "frontdesk",
}

# Routes anyone may reach, and why.
PUBLIC = {
    "static": "the host's assets",
    "appbuilder.static": "Flask-AppBuilder's assets",
    "health": "monitoring",
    "favicon": "the site icon browsers ask every origin for",
    "practice_logo": "the practice's logo, shown on patients' pages too",
    "BackOfficeAuthDBView.login": "the login form",
    "LocaleView.index": "language switch",
    "UtilView.back": "redirects to the previous page",
    "SecurityApi.login": "JWT login; applies the same telehealth gate",
}
# Routes that take a JWT and never a login cookie: denied to everyone here.
TOKEN_ONLY = {"SecurityApi.refresh": "JWT refresh; needs a refresh token"}
PUBLIC_PREFIXES = ("plugin_static_",)  # plugins' static assets
# Routes for any signed-in staff member whose session is live.
STAFF = {
    "BackOfficeIndexView.index": "the Back Office home",
    "SessionView.keepalive": "idle-logoff heartbeat",
    "SessionView.status": "idle time left, asked by the page's idle clock",
    "BackOfficeAuthDBView.logout": "sign out",
    "OpenApiView.openapi": "the OpenAPI document: shapes of routes, no data (see the README)",
}
NOT_REQUESTED = {"BackOfficeAuthDBView.logout"}  # requesting it would end the walk
# FAB's action routes check the permission of the action they run: test_action_matrix.
ACTION_ROUTES = re.compile(r"\.action(_post)?$")
# Staff Socket.IO events that any signed-in staff member may send.
OPEN_TO_ALL_STAFF = {"tools.ping": "latency probe", "core.use_here": "claim the live tab"}

ARGUMENTS = {
    "pk": "999999",
    "user_id": "999999",
    "name": "nonexistent",
    "filename": "x_sep_missing.txt",
    "locale": "en",
    "group_by": "0",
    "kind": "svg",
    "source": "nonexistent",
    "slug": "nonexistent",
}


@dataclass(frozen=True)
class Decision:
    kind: str  # public | staff | token | permission | action
    permission: str = ""
    view_menu: str = ""
    base_permissions: tuple[str, ...] = ()


def decision_for(app: Flask, rule: Rule) -> Decision | None:
    endpoint = rule.endpoint
    if endpoint in PUBLIC or endpoint.startswith(PUBLIC_PREFIXES):
        return Decision("public")
    if getattr(app.view_functions[endpoint], "_backoffice_public", None):
        return Decision("public")  # marked with core.api.public_route(reason)
    if endpoint in STAFF:
        return Decision("staff")
    if endpoint in TOKEN_ONLY:
        return Decision("token")
    if ACTION_ROUTES.search(endpoint):
        return Decision("action")
    function = app.view_functions[endpoint]
    view = getattr(function, "__self__", None)
    name = getattr(getattr(function, "__func__", function), "_permission_name", None)
    if view is None or name is None:
        return None
    method = endpoint.split(".", 1)[1]
    name = (getattr(view, "method_permission_name", None) or {}).get(method, name)
    return Decision(
        "permission", f"can_{name}", view.class_permission_name, tuple(view.base_permissions)
    )


def granted(app: Flask, role_name: str) -> set[tuple[str, str]]:
    with app.app_context():
        role = app.extensions["appbuilder"].sm.find_role(role_name)
        return {(pv.permission.name, pv.view_menu.name) for pv in role.permissions}


def expected(decision: Decision, role: str | None, grants: set[tuple[str, str]]) -> bool | None:
    """Whether this identity may use the route; ``None`` when only "no crash" is checked."""
    if decision.kind == "action":
        return None  # checked per action by test_action_matrix
    if decision.kind == "public":
        return True
    if role is None or decision.kind == "token":
        return False
    if decision.kind == "staff":
        return True
    return decision.permission in decision.base_permissions and (
        (decision.permission, decision.view_menu) in grants
    )


def url_of(rule: Rule) -> str:
    url = rule.rule
    for argument in rule.arguments:
        url = re.sub(rf"<([^>]*:)?{argument}>", ARGUMENTS[argument], url)
    return url


def denied(response: Any) -> bool:
    if response.status_code in {401, 403}:
        return True
    return response.status_code in {301, 302, 303} and "/login/" in response.headers.get(
        "Location", ""
    )


def test_every_route_has_a_permission_decision(app: Flask) -> None:
    undecided = [r.endpoint for r in app.url_map.iter_rules() if decision_for(app, r) is None]
    assert undecided == [], f"routes without a permission decision: {undecided}"


@pytest.mark.parametrize("identity", [None, *IDENTITIES])
def test_route_matrix(make_app: Any, identity: str | None) -> None:
    app: Flask = make_app(WTF_CSRF_ENABLED=False)
    client: FlaskClient = app.test_client()
    if identity is not None:
        login(client, IDENTITIES[identity])
    grants = granted(app, identity) if identity else set()
    wrong: list[str] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        decision = decision_for(app, rule)
        assert decision is not None
        if rule.endpoint in NOT_REQUESTED or decision.kind == "public" and rule.arguments:
            continue
        method = "GET" if "GET" in (rule.methods or set()) else "POST"
        response = client.open(url_of(rule), method=method)
        assert response.status_code < 500, f"{method} {rule.rule}: {response.status_code}"
        allowed = not denied(response)
        should = expected(decision, identity, grants)
        if should is not None and allowed != should:
            wrong.append(
                f"{method} {rule.rule} ({decision.kind} {decision.permission} "
                f"{decision.view_menu}): got {response.status_code}, expected "
                f"{'allowed' if not allowed else 'denied'}"
            )
    assert wrong == [], f"{identity or 'anonymous'}:\n" + "\n".join(wrong)


def socket_events(app: Flask) -> list[tuple[str, str, tuple[str, str] | None]]:
    hub = app.extensions["backoffice.hub"]
    found = [(ns, name, event.permission) for (ns, name), (_p, event) in hub.events.items()]
    return [*found, (NAMESPACES["staff"], "core.use_here", None)]


def test_every_staff_event_has_a_permission_decision(app: Flask) -> None:
    undecided = [
        name
        for ns, name, permission in socket_events(app)
        if ns == NAMESPACES["staff"] and permission is None and name not in OPEN_TO_ALL_STAFF
    ]
    assert undecided == [], f"staff events without a permission decision: {undecided}"


@pytest.mark.parametrize("identity", [None, "patient", *IDENTITIES])
def test_socket_matrix(app: Flask, identity: str | None) -> None:
    client = app.test_client()
    server = socketio_of(app)
    grants: set[tuple[str, str]] = set()
    auth: dict[str, str] | None = None
    if identity == "patient":
        with app.app_context():
            from core.tokens import new_patient_token

            auth = {"token": new_patient_token(kind="test")}
    elif identity is not None:
        login(client, IDENTITIES[identity])
        grants = granted(app, identity)
    staff = server.test_client(app, namespace="/staff", flask_test_client=client)
    patient = server.test_client(app, namespace="/patient", flask_test_client=client, auth=auth)
    is_staff = identity not in {None, "patient"}
    assert staff.is_connected("/staff") is is_staff
    assert patient.is_connected("/patient") is (identity == "patient")
    for namespace, name, permission in socket_events(app):
        sio = staff if namespace == NAMESPACES["staff"] else patient
        if not sio.is_connected(namespace):
            continue
        ack = sio.emit(name, {}, namespace=namespace, callback=True)
        code = None if ack.get("ok") else ack["error"]["code"]
        may = permission is None or permission in grants
        if may:
            assert code not in {"forbidden", "unauthorized"}, (identity, name, ack)
        else:
            assert code == "forbidden", (identity, name, ack)
    if identity == "patient":
        patient_events = {n for ns, n, _p in socket_events(app) if ns == NAMESPACES["patient"]}
        for namespace, name, _permission in socket_events(app):
            if namespace == NAMESPACES["staff"] and name not in patient_events:
                ack = patient.emit(name, {}, namespace="/patient", callback=True)
                assert ack["error"]["code"] == "unknown_event", (name, ack)


def views_with_actions(app: Flask) -> list[Any]:
    return [v for v in app.extensions["appbuilder"].baseviews if getattr(v, "actions", None)]


def denied_action(client: FlaskClient, response: Any) -> bool:
    if denied(response):
        return True
    with client.session_transaction() as session:
        flashes = session.pop("_flashes", [])
    return any("Access is Denied" in str(message) for _category, message in flashes)


@pytest.mark.parametrize("identity", [None, *IDENTITIES])
def test_action_matrix(make_app: Any, identity: str | None) -> None:
    """Each FAB action (e.g. copy role, reset passwords) runs only with its own permission."""
    app: Flask = make_app(WTF_CSRF_ENABLED=False)
    client: FlaskClient = app.test_client()
    if identity is not None:
        login(client, IDENTITIES[identity])
    grants = granted(app, identity) if identity else set()
    wrong: list[str] = []
    with app.test_request_context():
        targets = [
            (
                v.route_base,
                name,
                v.get_action_permission_name(name),
                v.class_permission_name,
                bool(action.multiple),
            )
            for v in views_with_actions(app)
            for name, action in v.actions.items()
        ]
    assert targets, "FAB's security views define actions; the matrix must see them"
    for route_base, name, permission, view_menu, multiple in targets:
        # FAB refuses single-record actions over GET whenever CSRF protection is installed,
        # so those are denied to everyone; multi-record ones follow the action's permission.
        may = multiple and (permission, view_menu) in grants
        # Single-record actions run from a link (GET); multi-record ones from the list (POST).
        requests = (
            [("POST", f"{route_base}/action_post", {"action": name, "rowid": "1"})]
            if multiple
            else [("GET", f"{route_base}/action/{name}/1", None)]
        )
        for method, url, data in requests:
            response = client.open(url, method=method, data=data)
            assert response.status_code < 500, f"{method} {url}: {response.status_code}"
            if denied_action(client, response) == may:
                wrong.append(f"{method} {url} ({permission} on {view_menu}): may={may}")
    assert wrong == [], f"{identity or 'anonymous'}:\n" + "\n".join(wrong)
