"""The plugin manager: discovery, failure isolation, dependencies and runtime switching."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.app import plugin_manager, set_plugin_enabled
from core.database import db
from core.models import AuditEntry, PluginState
from core.plugins import PluginSwitchError
from core.realtime import Hub, socketio_of
from core.types import SocketEvent
from tests.conftest import csrf_token_from, login

PARTNERS = ("partner_hello", "partner_broken", "partner_badreg", "partner_orphan")


def states(client: FlaskClient) -> dict[str, str]:
    return {p["name"]: p["state"] for p in client.get("/health").get_json()["plugins"]}


def switch(client: FlaskClient, name: str, enabled: bool) -> object:
    token = csrf_token_from(client.get("/admin/plugins/").text)
    return client.post(
        f"/admin/plugins/{name}/switch",
        data={"enabled": "1" if enabled else "0", "csrf_token": token},
    )


def test_builtin_plugin_is_discovered_through_its_entry_point(app: Flask) -> None:
    with app.app_context():
        tools = plugin_manager().records["tools"]
        assert plugin_manager().state_of("tools") == "enabled"
    assert tools.distribution == "telehealth-backoffice"
    assert tools.info is not None and tools.info.menu_section == "Tools"


def test_partner_plugins_are_discovered_and_failures_isolated(
    partner_plugins: Path, app: Flask, client: FlaskClient
) -> None:
    found = states(client)
    assert {name: found[name] for name in PARTNERS} == {
        "partner_hello": "enabled",
        "partner_broken": "failed",
        "partner_badreg": "failed",
        "partner_orphan": "failed",
    }
    assert all(state == "enabled" for name, state in found.items() if name not in PARTNERS)
    with app.app_context():
        records = plugin_manager().records
        assert "partner_broken exploded at import" in (records["partner_broken"].error or "")
        assert "cannot build its views" in (records["partner_badreg"].error or "")
        assert "requires plugin 'no_such_plugin'" in (records["partner_orphan"].error or "")
        assert records["partner_hello"].distribution == "bo-partner-plugins"
    login(client, "admin")
    assert client.get("/partner-hello/").status_code == 200
    assert client.get("/tools/speedtest/").status_code == 200
    page = client.get("/admin/plugins/").text
    assert "partner_broken exploded at import" in page
    assert 'data-plugin="partner_broken" data-state="failed"' in page


def test_failed_plugin_hooks_are_not_called(partner_plugins: Path, app: Flask) -> None:
    with app.app_context():
        pm = plugin_manager().pm
        assert not pm.has_plugin("partner_badreg")
        assert pm.has_plugin("partner_hello")


def test_block_list_and_allow_list(partner_plugins: Path, make_app: Callable[..., Flask]) -> None:
    blocked = make_app(
        PLUGINS_BLOCK=["partner_broken", "partner_badreg", "partner_orphan", "tools"]
    )
    found = states(blocked.test_client())
    assert "tools" not in found and found["partner_hello"] == "failed"
    with blocked.app_context():
        error = plugin_manager().records["partner_hello"].error or ""
    assert "requires plugin 'tools', which is not installed" in error
    allowed = make_app(PLUGINS_ALLOW=["tools"])
    assert states(allowed.test_client()) == {"tools": "enabled"}


def test_menu_sections_keep_a_stable_order(partner_plugins: Path, app: Flask) -> None:
    with app.app_context():
        names = [r.name for r in plugin_manager().loaded()]
    assert names.index("tools") < names.index("partner_hello")  # a dependency comes first
    nav = app.test_client()
    login(nav, "admin")
    page = nav.get("/").text
    assert page.index('data-section="Tools"') < page.index('data-section="Partner"')
    assert page.index('data-section="Partner"') < page.index('data-section="Admin"')


def test_disable_from_the_admin_page_hides_and_404s_without_restart(
    app: Flask, client: FlaskClient
) -> None:
    login(client, "admin")
    assert 'data-section="Tools"' in client.get("/").text
    response = switch(client, "tools", False)
    assert response.status_code == 302
    assert client.get("/tools/speedtest/").status_code == 404
    assert client.get("/plugin-static/tools/tools/tools.css").status_code == 404
    assert 'data-section="Tools"' not in client.get("/").text
    assert states(client)["tools"] == "disabled"
    with app.app_context():
        entry = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "plugin.disabled")
        ).one()
        assert (entry.actor, entry.target) == ("admin", "tools")
        assert db.session.get(PluginState, "tools").enabled is False  # type: ignore[union-attr]
    switch(client, "tools", True)
    assert client.get("/tools/speedtest/").status_code == 200


def test_switch_is_persisted_for_other_workers(make_app: Callable[..., Flask]) -> None:
    first = make_app()
    with first.app_context():
        set_plugin_enabled("tools", False, actor="test")
    second = make_app()  # another worker on the same database
    assert states(second.test_client())["tools"] == "disabled"


def test_cannot_disable_a_plugin_that_an_enabled_plugin_requires(
    partner_plugins: Path, app: Flask, client: FlaskClient
) -> None:
    login(client, "admin")
    response = switch(client, "tools", False)
    assert response.status_code == 409
    page = client.get("/admin/plugins/").text
    assert "partner_hello" in page and "require it" in page
    assert states(client)["tools"] == "enabled"
    with app.app_context():
        set_plugin_enabled("partner_hello", False, actor="test")
        set_plugin_enabled("tools", False, actor="test")
        with pytest.raises(PluginSwitchError, match="requires tools"):
            set_plugin_enabled("partner_hello", True, actor="test")
        with pytest.raises(PluginSwitchError, match="failed to load"):
            set_plugin_enabled("partner_broken", True, actor="test")
        with pytest.raises(PluginSwitchError, match="no plugin named"):
            set_plugin_enabled("nope", True, actor="test")


def test_disabled_plugin_hooks_are_not_called(partner_plugins: Path, app: Flask) -> None:
    import bo_partner_hello  # type: ignore[import-not-found]

    from core.api import emit_domain_event

    bo_partner_hello.RECEIVED.clear()
    with app.app_context():
        emit_domain_event("partner_hello.greeted", {"id": 1}, source="test")
        set_plugin_enabled("partner_hello", False, actor="test")
        emit_domain_event("partner_hello.greeted", {"id": 2}, source="test")
    assert [e.payload["id"] for e in bo_partner_hello.RECEIVED] == [1]


def test_disabled_plugin_socket_events_refuse(
    partner_plugins: Path, app: Flask, client: FlaskClient
) -> None:
    login(client, "admin")
    sio = socketio_of(app).test_client(app, namespace="/staff", flask_test_client=client)
    assert sio.is_connected("/staff")
    ack = sio.emit("partner_hello.echo", {"text": "hi"}, namespace="/staff", callback=True)
    assert ack == {"ok": True, "data": {"echo": "hi", "user": "admin"}}
    with app.app_context():
        set_plugin_enabled("partner_hello", False, actor="test")
    ack = sio.emit("partner_hello.echo", {"text": "hi"}, namespace="/staff", callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "plugin_disabled"
    assert sio.is_connected("/staff")


def test_only_permitted_users_can_switch(client: FlaskClient) -> None:
    login(client, "clinician1")
    assert client.get("/admin/plugins/").status_code in {302, 403}
    client.post("/admin/plugins/tools/switch", data={"enabled": "0"})
    assert states(client)["tools"] == "enabled"


def test_switch_without_csrf_token_is_refused(client: FlaskClient) -> None:
    login(client, "admin")
    response = client.post("/admin/plugins/tools/switch", data={"enabled": "0"})
    assert response.status_code == 400
    assert states(client)["tools"] == "enabled"


def test_practice_admin_can_switch_plugins(client: FlaskClient) -> None:
    login(client, "practiceadmin")
    assert switch(client, "tools", False).status_code == 302
    assert states(client)["tools"] == "disabled"


def test_hub_rejects_events_outside_the_plugin_prefix(app: Flask) -> None:
    with app.app_context():
        hub = Hub(plugin_manager())
    with pytest.raises(ValueError, match="must start with"):
        hub.add("tools", SocketEvent("other.thing", lambda p, c: None, object))
    with pytest.raises(ValueError, match="unknown namespace"):
        hub.add("tools", SocketEvent("tools.x", lambda p, c: None, object, namespace="public"))


def test_a_switch_is_seen_at_once_while_a_refresh_is_under_way(app: Flask) -> None:
    """The server's housekeeping re-reads the switches every second; a handler that finds
    it refreshing goes on with the cached switches, which must already hold this worker's
    own change (the admin's page after "Disable" showed the plugin still enabled)."""
    from core.app import set_plugin_enabled

    states = app.extensions["backoffice.plugins"].states
    with app.test_request_context():
        assert states.is_enabled("tools")
        assert states._lock.acquire(blocking=False)  # a refresh is under way
        try:
            set_plugin_enabled("tools", False, actor="admin")
            assert not states.is_enabled("tools")
        finally:
            states._lock.release()
        assert not states.is_enabled("tools")
        set_plugin_enabled("tools", True, actor="admin")
        assert states.is_enabled("tools")


def test_built_in_plugins_import_only_the_public_api_from_core() -> None:
    """The plugin contract: ``core.api`` is the one module of core a plugin imports (its
    migrations may use Alembic and SQLAlchemy directly), so core can change behind it."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "plugins"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [
                f"{path.relative_to(root)}:{node.lineno} imports {module}"
                for module in modules
                if (module == "core" or module.startswith("core.")) and module != "core.api"
            ]
    assert offenders == []
