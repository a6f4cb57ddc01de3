"""The OpenAPI document: who reads it, that every JSON route is in it, and schemathesis
against a live server, signed in as an admin: no 5xx, no answer off its declared schema."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.openapi import DOCUMENT_URL, answers_json, build_document, undeclared_json_routes
from tests.conftest import PG_URL, LiveServer, live_login, login

#: Examples per operation and mode: some 20 operations, so about 300 valid and 200 invalid
#: requests, well under two minutes with the server's start on a busy 2-core machine.
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}
PROBE = "bo_openapi_probe"
CHECKS = [
    schemathesis.checks.not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


# --- serving it ------------------------------------------------------------------------------


def test_the_document_is_for_signed_in_staff_only(app: Flask) -> None:
    anonymous = app.test_client().get(DOCUMENT_URL)
    assert anonymous.status_code == 401
    assert "sign in" in anonymous.get_json()["error"]
    staff = app.test_client()
    login(staff, "frontdesk")  # the least privileged role reads it too (see the README)
    answer = staff.get(DOCUMENT_URL)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    doc = answer.get_json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["components"]["securitySchemes"]) == {"session", "csrf"}
    assert doc["components"]["securitySchemes"]["csrf"]["name"] == "X-CSRFToken"
    assert "/calendar/events" in doc["paths"] and "/wait/{code}/enter" in doc["paths"]


def test_its_csrf_header_is_the_token_posts_need(make_app: Callable[..., Flask]) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    login(client, "clinician1")
    token = client.get(DOCUMENT_URL).headers["X-CSRFToken"]
    assert client.post("/session/keepalive").status_code == 400  # no token: refused
    answer = client.post("/session/keepalive", headers={"X-CSRFToken": token})
    assert answer.status_code == 200, answer.text
    assert answer.get_json() == {"idle_timeout": app.config["SESSION_IDLE_TIMEOUT"]}


def test_operations_say_how_they_are_authenticated(app: Flask) -> None:
    with app.app_context():
        paths = build_document(app)["paths"]
    assert paths["/calendar/events"]["get"]["security"] == [{"session": []}]
    assert paths["/calendar/appointments/"]["post"]["security"] == [{"session": [], "csrf": []}]
    assert paths["/health"]["get"]["security"] == []  # public
    # a patient's check-in is public, but a POST: its CSRF token and the cookie it is bound to
    assert paths["/wait/{code}/enter"]["post"]["security"] == [{"session": [], "csrf": []}]
    staff_get = paths["/calendar/events"]["get"]["responses"]
    assert {"302", "401", "403", "400", "503"} <= set(staff_get)
    assert "401" not in paths["/wait/{code}/enter"]["post"]["responses"]


# --- every JSON route is declared ----------------------------------------------------------------


def test_every_json_route_of_core_and_the_enabled_plugins_is_declared(app: Flask) -> None:
    """See core/openapi.py ``answers_json`` for what counts as a JSON route."""
    assert undeclared_json_routes(app) == []


def _probe_views(folder: Path) -> None:
    """A partner plugin with one declared and one undeclared JSON route."""
    package = folder / PROBE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from core.api import PluginInfo, hookimpl


            @hookimpl
            def backoffice_plugin_info():
                return PluginInfo(title="Probe", version="0.1.0")


            @hookimpl
            def backoffice_blueprints():
                from bo_openapi_probe.views import pages

                return [pages]
            """
        )
    )
    (package / "views.py").write_text(
        textwrap.dedent(
            """
            from flask import Blueprint, jsonify
            from marshmallow import Schema, fields

            from core.api import json_route, public_route

            pages = Blueprint("bo_openapi_probe", __name__)


            class CountSchema(Schema):
                count = fields.Integer(required=True)


            @pages.route("/probe/declared")
            @json_route("How many", responses={200: CountSchema})
            @public_route("a test probe")
            def declared():
                return jsonify(count=1)


            def _answer():
                return jsonify(count=2)


            @pages.route("/probe/undeclared", methods=["POST"])
            @public_route("a test probe")
            def undeclared():
                return _answer()


            @pages.route("/probe/literal")
            @public_route("a test probe")
            def literal():
                return {"count": 3}


            @pages.route("/probe/page")
            @public_route("a test probe")
            def page():
                return "<p>no JSON here</p>"
            """
        )
    )
    info = folder / "bo_openapi_probe-0.1.0.dist-info"
    info.mkdir()
    metadata = "Metadata-Version: 2.1\nName: bo-openapi-probe\nVersion: 0.1.0\n"
    (info / "METADATA").write_text(metadata)
    (info / "entry_points.txt").write_text(f"[backoffice.plugins]\n{PROBE} = {PROBE}\n")


@pytest.fixture
def probe_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import sys

    _probe_views(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield
    for name in [n for n in sys.modules if n.startswith(PROBE)]:
        del sys.modules[name]


def test_an_undeclared_json_route_of_a_plugin_is_caught(
    probe_plugin: None, make_app: Callable[..., Flask]
) -> None:
    app = make_app()
    assert undeclared_json_routes(app) == [
        f"GET /probe/literal ({PROBE}.literal)",
        f"POST /probe/undeclared ({PROBE}.undeclared)",
    ]
    with app.app_context():
        doc = build_document(app)
    answer = doc["paths"]["/probe/declared"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{PROBE}.Count"
    }
    assert "/probe/page" not in doc["paths"]
    with app.app_context():
        from core.app import set_plugin_enabled

        set_plugin_enabled(PROBE, False)
        assert undeclared_json_routes(app) == []  # a disabled plugin answers 404 anyway
        assert "/probe/declared" not in build_document(app)["paths"]


def test_what_counts_as_answering_json() -> None:
    from plugins.calendar.views import CalendarView
    from plugins.tools.views import WebcamCheckView

    assert answers_json(CalendarView.events, "plugins.calendar")  # calls jsonify itself
    assert answers_json(CalendarView.create, "plugins.calendar")  # through self._invalid
    assert not answers_json(CalendarView.ics, "plugins.calendar")  # text/calendar
    assert not answers_json(WebcamCheckView.show, "plugins.tools")  # a page


# --- schemathesis against a live server ---------------------------------------------------


@pytest.fixture
def api_server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    # PostgreSQL when CI has it: it refuses what SQLite quietly stores (ids past 32 bits).
    return live_server_factory(backend="postgresql" if PG_URL else "sqlite")


@pytest.fixture
def admin(api_server: LiveServer) -> requests.Session:
    session = live_login(api_server.url, "admin")
    answer = session.get(api_server.url + DOCUMENT_URL, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    session.headers["X-CSRFToken"] = answer.headers["X-CSRFToken"]
    session.headers["Accept"] = "application/json"  # the routes that negotiate answer JSON
    return session


@pytest.fixture
def api_schema(api_server: LiveServer, admin: requests.Session) -> Any:
    schema = schemathesis.openapi.from_url(
        api_server.url + DOCUMENT_URL, cookies=admin.cookies, timeout=30
    )
    # The session cookie and CSRF header are the admin's: never generated ones.
    schema.config.generation.update(with_security_parameters=False)
    return schema


def _exercise(operation: Any, mode: GenerationMode, session: requests.Session) -> None:
    overrides = {"code": "demo-practice"} if operation.path == "/wait/{code}/enter" else None

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded; the case is shown
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(mode, path_parameters=overrides))
    def run(case: Any) -> None:
        case.call_and_validate(session=session, timeout=30, checks=CHECKS)

    run()


# schemathesis' own pytest loader (from_fixture) reads a node attribute pytest 9.2 renamed,
# so the operations are walked here, each through Hypothesis with the same strategies.
@pytest.mark.live
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_schemathesis(api_schema: Any, admin: requests.Session, mode: GenerationMode) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15, [o.label for o in operations]
    for operation in operations:
        try:
            _exercise(operation, mode, admin)
        except Unsatisfiable:  # negative: nothing to get wrong (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # every operation runs; all failures are reported together
            failures.append(f"{operation.label}:\n{exc}")
    assert failures == [], "\n\n".join(failures)
