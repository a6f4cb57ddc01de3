"""The partner kit: the event catalogue, hook ordering, the plugin contract's refusals,
the installed fixtures and ``backoffice plugins uninstall``."""

from __future__ import annotations

import logging
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.api import emit_domain_event
from core.events import EventContractError, catalogue_markdown
from core.plugins import PluginManager
from core.testing.plugin import Outbox, SmtpCapture
from tests.conftest import ROOT

GUIDE = ROOT / "docs" / "plugin-guide.md"
TABLE = re.compile(
    r"<!-- event-catalogue:start -->\n(?P<table>.*?)<!-- event-catalogue:end -->", re.S
)
HOST_DISTRIBUTION = "telehealth-backoffice"

ARRIVED = {
    "entry_id": 7,
    "status": "waiting",
    "invite_id": None,
    "invite_kind": "external",
    "client_id": None,
    "provider_id": None,
    "arrived_at": "2026-12-01T10:00:00Z",
    "admitted_at": None,
    "ended_at": None,
    "waited_seconds": None,
    "copay_status": "not_required",
    "copay_cents": None,
}


def write_distribution(site: Path, dist: str, modules: dict[str, str]) -> None:
    """A real ``*.dist-info`` with one ``backoffice.plugins`` entry point per module."""
    info = site / f"{dist}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    lines = ["[backoffice.plugins]", *(f"{m.removeprefix('bo_kit_')} = {m}" for m in modules)]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


HEADER = """
from core.api import DomainEvent, EventSpec, PluginInfo, hookimpl
from bo_kit_shared import CALLS
from marshmallow import Schema, fields


class PingedSchema(Schema):
    n = fields.Integer(strict=True, required=True)

"""


def listener(name: str, marker: str, *, fails: bool = False, declares: bool = False) -> str:
    source = HEADER + textwrap.dedent(
        f"""
        @hookimpl
        def backoffice_plugin_info():
            return PluginInfo(title="{name}", version="0.1.0")


        @hookimpl{marker}
        def backoffice_domain_event(event: DomainEvent) -> None:
            CALLS.append(("{name}", event.name))
            if {fails!r}:
                raise RuntimeError("listener {name} broke")
        """
    )
    if declares:
        source += textwrap.dedent(
            """

            @hookimpl
            def backoffice_declared_events():
                return [EventSpec("kit.pinged", "A test ping.", PingedSchema)]
            """
        )
    return source


def bad_info(version: str) -> str:
    return HEADER + textwrap.dedent(
        f"""
        @hookimpl
        def backoffice_plugin_info():
            return PluginInfo(title="bad", version="0.1.0", api_version={version})
        """
    )


WRAPPER = HEADER + textwrap.dedent(
    """
    @hookimpl
    def backoffice_plugin_info():
        return PluginInfo(title="wrapper", version="0.1.0")


    @hookimpl(wrapper=True)
    def backoffice_domain_event(event):
        return (yield)
    """
)


def installed_site(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dist: str,
    modules: dict[str, str],
    shared: tuple[str, str],
) -> Iterator[Path]:
    """A fixture's body: ``modules`` installed as one distribution for this test, with a
    ``shared`` ``(module, source)`` they all import; their modules forgotten afterwards."""
    site = tmp_path / "site"
    site.mkdir()
    write_distribution(site, dist, modules)
    (site / f"{shared[0]}.py").write_text(shared[1])
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in [m for m in sys.modules if m in modules or m == shared[0]]:
        del sys.modules[name]


@pytest.fixture
def kit_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from installed_site(
        tmp_path,
        monkeypatch,
        "bo-kit-plugins",
        {
            # Names sort a < b < c: without the markers they would run in that order.
            "bo_kit_a_last": listener("a_last", "(trylast=True)"),
            "bo_kit_b_plain": listener("b_plain", "", fails=True, declares=True),
            "bo_kit_c_first": listener("c_first", "(tryfirst=True)"),
            "bo_kit_wrapper": WRAPPER,
            "bo_kit_v0": bad_info("0"),
            "bo_kit_vstr": bad_info('"1"'),
        },
        ("bo_kit_shared", "CALLS: list[tuple[str, str]] = []\n"),
    )


def calls() -> list[tuple[str, str]]:
    import bo_kit_shared  # type: ignore[import-not-found]

    return list(bo_kit_shared.CALLS)


# --- hook ordering and the contract's refusals ------------------------------------------


def test_hooks_run_tryfirst_then_the_rest_then_trylast_and_one_failure_stops_none(
    kit_plugins: Path, app: Flask
) -> None:
    from core.app import plugin_manager, set_plugin_enabled

    with app.app_context():
        plugins = plugin_manager()
        order = [r.name for r in plugins.call_order("backoffice_domain_event")]
        kit = [name for name in order if name in {"a_last", "b_plain", "c_first"}]
        assert kit == ["c_first", "b_plain", "a_last"]
        assert order[0] == "c_first" and order[-1] == "a_last"

        emit_domain_event("kit.pinged", {"n": 1}, source="test")
        ours = [c for c in calls() if c[1] == "kit.pinged"]
        # b_plain raised; the plugins after it still heard the event.
        assert [c[0] for c in ours] == ["c_first", "b_plain", "a_last"]

        set_plugin_enabled("c_first", False, actor="test")
        emit_domain_event("kit.pinged", {"n": 2}, source="test")
        later = [c[0] for c in calls() if c[1] == "kit.pinged"][3:]
        assert later == ["b_plain", "a_last"]


def test_wrappers_and_bad_api_versions_are_refused_with_the_reason(kit_plugins: Path) -> None:
    plugins = PluginManager()
    plugins.discover()
    errors = {n: plugins.records[n].error or "" for n in ("wrapper", "v0", "vstr")}
    assert "hook wrappers are not supported (backoffice_domain_event)" in errors["wrapper"]
    assert "targets plugin API 0" in errors["v0"] and "between 1 and 1" in errors["v0"]
    assert "api_version must be an integer such as 1, got '1' (str)" in errors["vstr"]
    assert plugins.records["c_first"].error is None


# --- the event catalogue ---------------------------------------------------------------


def emitted_names() -> set[str]:
    """Every event name the host's code passes to emit_domain_event or emit_on_commit."""
    names: set[str] = set()
    for path in [*ROOT.glob("core/**/*.py"), *ROOT.glob("plugins/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r'emit_(?:domain_event|on_commit)\(\s*"([\w.]+)"', text))
        names |= set(re.findall(r'DomainEvent\(\s*"([\w.]+)"', text))
        names |= set(re.findall(r'\bevent="([\w.]+)"', text))
        names |= set(re.findall(r'name = "([\w.]+)" if record\.decision', text))
        if "calendar.appointment_{what}" in text:
            names |= {"calendar.appointment_created", "calendar.appointment_updated"}
    return names


def host_catalogue() -> PluginManager:
    from core.events import CORE_EVENTS, DeclaredEvent

    plugins = PluginManager()
    plugins.discover()
    plugins.catalogue = {s.name: DeclaredEvent(plugin="core", spec=s) for s in CORE_EVENTS}
    for record in plugins.loaded():
        if record.distribution == HOST_DISTRIBUTION:
            plugins.declare_events(record.name)
    return plugins


def test_every_event_the_host_emits_is_declared() -> None:
    names = emitted_names()
    assert {"patient.arrived", "session.ended", "consent.recorded"} <= names
    catalogue = host_catalogue().catalogue or {}
    assert sorted(names - set(catalogue)) == []
    assert all(entry.spec.description for entry in catalogue.values())


def test_the_guides_event_table_is_the_catalogue() -> None:
    found = TABLE.search(GUIDE.read_text(encoding="utf-8"))
    assert found, "docs/plugin-guide.md has no event-catalogue markers"
    expected = catalogue_markdown(host_catalogue().catalogue or {})
    assert found["table"] == expected, "regenerate it with `backoffice events --markdown`"


def test_undeclared_or_mismatched_events_raise_in_tests(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(EventContractError, match="'kit.nothing' .* is not declared"):
            emit_domain_event("kit.nothing", {}, source="test")
        with pytest.raises(EventContractError, match="entry_id"):
            emit_domain_event("patient.arrived", {**ARRIVED, "entry_id": "seven"}, source="test")
        with pytest.raises(EventContractError, match="Unknown field"):
            emit_domain_event("patient.arrived", {**ARRIVED, "name": "Alex"}, source="test")
        emit_domain_event("patient.arrived", ARRIVED, source="test")  # matches: no error


def test_production_logs_a_broken_event_and_still_delivers_it(
    partner_plugins: Path, make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    import bo_partner_hello  # type: ignore[import-not-found]

    bo_partner_hello.RECEIVED.clear()
    app = make_app(TESTING=False)
    with app.app_context(), caplog.at_level(logging.ERROR, logger="core.plugins"):
        emit_domain_event("patient.arrived", {"entry_id": 7}, source="test")
        emit_domain_event("kit.undeclared", {}, source="test")
    assert "does not match its declared payload" in caplog.text
    assert "'kit.undeclared' (from test) is not declared" in caplog.text
    heard = [e.name for e in bo_partner_hello.RECEIVED]
    assert heard == ["patient.arrived", "kit.undeclared"]
    assert app.extensions["backoffice.plugins"].strict_events is False
    strict = make_app(TESTING=False, DOMAIN_EVENTS_STRICT=True)
    with strict.app_context(), pytest.raises(EventContractError):
        emit_domain_event("patient.arrived", {"entry_id": 7}, source="test")


def test_the_admin_page_lists_the_catalogue(
    admin_client: FlaskClient, practice_admin_client: FlaskClient, clinician_client: FlaskClient
) -> None:
    page = admin_client.get("/admin/events/")
    assert page.status_code == 200, page.text[:300]
    assert 'data-event="patient.arrived" data-plugin="waiting_room"' in page.text
    assert 'data-field="entry_id"' in page.text and 'data-menu="Domain Events"' in page.text
    assert practice_admin_client.get("/admin/events/").status_code == 200
    assert clinician_client.get("/admin/events/").status_code in {302, 403}


# --- the installed fixtures --------------------------------------------------------------


def test_the_fixtures_give_role_logins_sockets_and_mail(
    plugin_app: Flask,
    staff_client: FlaskClient,
    staff_socket: Callable[..., object],
    patient_socket: Callable[..., object],
    patient_token: str,
    outbox: Outbox,
    smtp_capture: SmtpCapture,
    make_app: Callable[..., Flask],
) -> None:
    assert staff_client.get("/").status_code == 200
    desk = staff_socket(staff_client)
    ack = desk.emit("tools.ping", {"sent_at": 1}, namespace="/staff", callback=True)  # type: ignore[attr-defined]
    assert ack["ok"] is True, ack
    patient = patient_socket(patient_token)
    assert patient.is_connected("/patient")  # type: ignore[attr-defined]

    mail_app = make_app(**smtp_capture.config)
    with mail_app.app_context():
        from core.api import send_email, send_sms

        send_email("pat@example.org", "Hello", "Body text", source="test")
        send_sms("+15555550100", "Your code", source="test")
    assert [m["Subject"] for m in smtp_capture.received] == ["Hello"]
    assert smtp_capture.received[0].get_content().strip() == "Body text"
    assert [m["to"] for m in outbox.messages()] == ["pat@example.org", "+15555550100"]
    assert outbox.sms[0]["status"] == "recorded" and outbox.emails[0]["status"] == "sent"
