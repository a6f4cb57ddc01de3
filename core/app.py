"""The application factory: the host, then every plugin, each in isolation."""

from __future__ import annotations

import json
import logging
import os
import traceback
from pathlib import Path
from typing import Any

from flask import Flask, abort, current_app, has_app_context, jsonify, request
from flask_appbuilder import AppBuilder
from flask_wtf.csrf import CSRFProtect
from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import Markup
from sqlalchemy import select, text

import config as default_config
from core import audit
from core.api import public_route
from core.assets import init_assets
from core.database import UNAVAILABLE_MESSAGE, db, engine_options, is_unavailable, tune_engine
from core.inputs import init_inputs
from core.messaging import mail
from core.models import PluginState
from core.openapi import ApiResponse, HealthSchema, json_route
from core.plugins import EXTENSION, PluginManager, PluginRecord, plugin_manager
from core.practice import zone_of
from core.realtime import Hub, init_realtime
from core.security import init_security
from core.staff import init_staff
from core.types import Assets, DashboardWidget, MenuLink, MenuView, TopbarItem

log = logging.getLogger(__name__)

CORE_DIR = Path(__file__).parent


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    settings = default_config.load()
    settings.update(overrides or {})
    plugins = PluginManager(settings["PLUGINS_ALLOW"], settings["PLUGINS_BLOCK"])
    plugins.discover()

    app = Flask(
        "core",
        static_folder=str(CORE_DIR / "static"),
        template_folder=str(CORE_DIR / "templates"),
        instance_path=str(Path(settings["INSTANCE_DIR"]).resolve()),
    )
    app.config.update(_plugin_defaults(plugins))
    app.config.update(settings)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    if not app.config["RATELIMIT_STORAGE_URI"]:
        app.config["RATELIMIT_STORAGE_URI"] = app.config["SOCKETIO_MESSAGE_QUEUE"] or "memory://"
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = default_config.generated_secret_key(Path(app.instance_path))
    zone_of(app.config)  # a PRACTICE_TIMEZONE typo fails the boot, not a page
    _prepare_sqlite_folder(app.config["SQLALCHEMY_DATABASE_URI"])
    uploads = Path(app.instance_path) / "uploads"
    app.config["UPLOAD_FOLDER"] = app.config["UPLOAD_FOLDER"] or str(uploads)
    app.config["IMG_UPLOAD_FOLDER"] = app.config["IMG_UPLOAD_FOLDER"] or str(uploads / "images")
    app.register_error_handler(FileNotFoundError, _file_not_found)
    app.register_error_handler(Exception, _unavailable_or_raise)
    init_inputs(app)  # before any route: it bounds the <int:...> converter

    app.extensions[EXTENSION] = plugins
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    db.init_app(app)
    mail.init_app(app)
    CSRFProtect(app)
    _add_plugin_templates(app, plugins)

    hub = Hub(plugins)
    app.extensions["backoffice.hub"] = hub
    with app.app_context():
        tune_engine(db.engine)
        for record in plugins.loaded():
            _guard(
                plugins, record, lambda r=record: plugins.call_one(r.name, "backoffice_load_models")
            )
        appbuilder = AppBuilder(update_perms=app.config["FAB_UPDATE_PERMS"])
        appbuilder.init_app(app, db.session)
        init_staff(app)
        from core import views

        views.register_core_views(appbuilder)
        for record in plugins.loaded():
            _register_plugin(app, appbuilder, plugins, hub, record)
        _declare_events(app, plugins)
        _order_menu(appbuilder, plugins)
        _init_practice_settings(app, plugins)
        plugins.states.bind(
            _switch_loader(app), app.config["PLUGIN_STATE_TTL"], on_change=_tell_pages(app)
        )
        init_realtime(app, hub)
        app.before_request(_gate_disabled_plugins)
        app.before_request(_refresh_navigation)
        init_security(app)
        app.add_url_rule("/health", "health", health)
        app.add_url_rule("/favicon.ico", "favicon", favicon)
        app.add_url_rule("/practice-logo", "practice_logo", serve_logo)
        init_assets(app)
        app.context_processor(_shell_context)
        if app.config["SYNC_PERMISSIONS_ON_BOOT"]:
            _sync_permissions_quietly()
        for record in plugins.loaded():
            _guard(
                plugins,
                record,
                lambda r=record: plugins.call_one(r.name, "backoffice_startup", app=app),
            )
        db.session.remove()
    _trust_proxies(app)
    return app


def _declare_events(app: Flask, plugins: PluginManager) -> None:
    """Build the domain-event catalogue; a plugin whose declarations are malformed fails."""
    from core.events import CORE_EVENTS, DeclaredEvent

    plugins.catalogue = {spec.name: DeclaredEvent(plugin="core", spec=spec) for spec in CORE_EVENTS}
    for record in plugins.loaded():
        _guard(plugins, record, lambda r=record: plugins.declare_events(r.name))
    strict = app.config.get("DOMAIN_EVENTS_STRICT")
    raw = os.environ.get(default_config.ENV_PREFIX + "DOMAIN_EVENTS_STRICT")
    if strict is None and raw is not None:
        strict = default_config._parse(raw, False)
    if strict is None:
        strict = bool(app.config.get("TESTING") or app.config.get("DEBUG"))
    plugins.strict_events = bool(strict)


def _trust_proxies(app: Flask) -> None:
    """Outermost, so that Socket.IO's requests see the client's address too."""
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )


def _file_not_found(error: FileNotFoundError) -> Any:
    """A download whose file is gone is a 404, not a server error."""
    return jsonify(error="that file does not exist"), 404


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.is_json


def _http_error(error: Any) -> Any:
    """An ``abort(404)`` and the like: JSON ``{"error": ...}`` to a client that asks for
    JSON (what the OpenAPI document promises), Flask's page to everyone else."""
    if error.code is None or error.code < 400 or not _wants_json():
        return error
    response = error.get_response()
    response.set_data(json.dumps({"error": error.description or error.name}))
    response.mimetype = "application/json"
    return response


def _unavailable_or_raise(error: Exception) -> Any:
    """The database is down or its pool is exhausted: a 503 that says so (patient pages
    retry on their own); anything else is left to Flask, which answers 500."""
    from werkzeug.exceptions import HTTPException

    if isinstance(error, HTTPException):
        return _http_error(error)
    if not is_unavailable(error):
        raise error
    log.warning("database unavailable: %s", str(error).splitlines()[0])
    db.session.rollback()
    headers = {"Retry-After": "5", "Cache-Control": "no-store"}
    if _wants_json():
        return jsonify(error=UNAVAILABLE_MESSAGE, code="unavailable"), 503, headers
    from flask import render_template

    return render_template("backoffice/unavailable.html", message=UNAVAILABLE_MESSAGE), 503, headers


def _sync_permissions_quietly() -> None:
    """Give newly installed plugins their permissions and default grants at boot.

    Skipped before the first migration; a worker that loses a race with another worker
    creating the same permission simply leaves it to the winner.
    """
    from sqlalchemy import inspect

    from core import roles

    if not inspect(db.engine).has_table("bo_applied_grant"):
        return
    try:
        if not roles.in_sync():
            roles.sync()
    except Exception as exc:
        db.session.rollback()
        log.warning("permission sync at boot skipped: %s", str(exc).splitlines()[0])


def normalise_database_url(url: str) -> str:
    """Pin PostgreSQL to psycopg2, which eventlet and gevent can make green (psycopg 3's
    C wait function cannot be patched); SQLAlchemy 2.1 would otherwise pick psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url.removeprefix(prefix)
    return url


def _plugin_defaults(plugins: PluginManager) -> dict[str, Any]:
    """Plugins' config defaults, parsed from ``BACKOFFICE_<KEY>`` like the host's own."""
    defaults: dict[str, Any] = {}
    for record in plugins.loaded():
        values = _guard(
            plugins, record, lambda r=record: plugins.call_one(r.name, "backoffice_config_defaults")
        )
        for key, default in (values or {}).items():
            raw = os.environ.get(default_config.ENV_PREFIX + key)
            defaults[key] = default if raw is None else default_config._parse(raw, default)
    return defaults


def _prepare_sqlite_folder(uri: str) -> None:
    if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def _add_plugin_templates(app: Flask, plugins: PluginManager) -> None:
    folders = [
        str(record.directory / "templates")
        for record in plugins.loaded()
        if record.directory and (record.directory / "templates").is_dir()
    ]
    assert app.jinja_loader is not None
    app.jinja_loader = ChoiceLoader([app.jinja_loader, *(FileSystemLoader(f) for f in folders)])


def _guard(plugins: PluginManager, record: PluginRecord, step: Any) -> Any:
    """Run one plugin step; a plugin that raises is recorded as failed, the host goes on."""
    if record.failed:
        return None
    try:
        return step()
    except Exception:
        if has_app_context():
            db.session.rollback()
        plugins.fail(record.name, traceback.format_exc())
        return None


def _register_plugin(
    app: Flask, appbuilder: AppBuilder, plugins: PluginManager, hub: Hub, record: PluginRecord
) -> None:
    before = set(app.blueprints)
    views_before = len(appbuilder.baseviews)
    try:
        _guard(plugins, record, lambda: _register_parts(app, appbuilder, plugins, hub, record))
    finally:
        # Whatever got registered, even by a plugin that then failed, is gated by its state.
        record.blueprints |= set(app.blueprints) - before
        # What `backoffice plugins uninstall` removes again.
        record.view_menus |= {
            view.class_permission_name for view in appbuilder.baseviews[views_before:]
        }


def _register_parts(
    app: Flask, appbuilder: AppBuilder, plugins: PluginManager, hub: Hub, record: PluginRecord
) -> None:
    name = record.name
    section = record.menu_section or record.title
    icon = record.info.menu_icon if record.info else ""

    def visible() -> bool:
        return plugins.states.is_enabled(name)

    for entry in plugins.call_one(name, "backoffice_views") or []:
        if not isinstance(entry, MenuView):
            raise TypeError(f"backoffice_views must return MenuView items, got {entry!r}")
        if entry.label is not None:
            record.menu_names |= {section, entry.label}
        if entry.label is None:
            appbuilder.add_view_no_menu(entry.view)
        else:
            appbuilder.add_view(
                entry.view,
                entry.label,
                icon=entry.icon,
                category=section,
                category_icon=icon,
                menu_cond=visible,
            )
    for link in plugins.call_one(name, "backoffice_menu_links") or []:
        if not isinstance(link, MenuLink):
            raise TypeError(f"backoffice_menu_links must return MenuLink items, got {link!r}")
        record.menu_names |= {section, link.label}
        appbuilder.add_link(
            link.label,
            href=link.href,
            icon=link.icon,
            category=section,
            category_icon=icon,
            cond=visible,
        )
    for api in plugins.call_one(name, "backoffice_apis") or []:
        appbuilder.add_api(api)
    for blueprint in plugins.call_one(name, "backoffice_blueprints") or []:
        app.register_blueprint(blueprint)
    if record.directory and (record.directory / "static").is_dir():
        from flask import Blueprint

        app.register_blueprint(
            Blueprint(
                f"plugin_static_{name}",
                record.module.__name__ if record.module else name,
                static_folder=str(record.directory / "static"),
                static_url_path=f"/plugin-static/{name}",
            )
        )
    for event in plugins.call_one(name, "backoffice_socket_events") or []:
        hub.add(name, event)
        record.socket_events.add(event.name)


CORE_SECTION_ORDER = {"Admin": 900, "Security": 910}


def _order_menu(appbuilder: AppBuilder, plugins: PluginManager) -> None:
    """The seed's sections first (core.navigation), then the other plugin sections by their
    menu order, then the host's Admin and Security; a practice admin's order wins later."""
    from core.navigation import arrange

    order = dict(CORE_SECTION_ORDER)
    for record in plugins.loaded():
        if record.info is not None:
            section = record.menu_section or record.title
            order[section] = min(order.get(section, record.info.menu_order), record.info.menu_order)
    current_app.extensions["backoffice.menu_orders"] = order
    arrange(appbuilder, order, {})


def _init_practice_settings(app: Flask, plugins: PluginManager) -> None:
    """The settings cache, and plugins' declared defaults for keys no config holds."""
    from core.practice_settings import DeclaredSetting, init_settings, register_defaults

    found: list[DeclaredSetting] = []
    for record in plugins.loaded():
        declared = _guard(
            plugins, record, lambda r=record: plugins.call_one(r.name, "backoffice_settings")
        )
        found += [DeclaredSetting(s, record.name, record.title) for s in declared or []]
    register_defaults(app, found)
    init_settings(app)
    _seed_join_codes()


def _seed_join_codes() -> None:
    """The practice's first join code, at boot rather than in a patient's request."""
    from sqlalchemy import inspect

    from core.join_codes import ensure_practice_codes
    from core.models import JoinCode

    if not inspect(db.engine).has_table(JoinCode.__tablename__):
        return
    try:
        ensure_practice_codes()
    except Exception as exc:  # e.g. the database is down: the first request does it
        db.session.rollback()
        log.warning("join codes at boot skipped: %s", str(exc).splitlines()[0])


def _refresh_navigation() -> None:
    from core.navigation import refresh_menu

    refresh_menu()


def _switch_loader(app: Flask) -> Any:
    def load() -> dict[str, bool]:
        query = select(PluginState.name, PluginState.enabled)
        if has_app_context():
            # The request's own session: a second app context would open a second session
            # and so hold a second connection, which under a burst empties the pool.
            rows = db.session.execute(query).all()
        else:
            with app.app_context():
                rows = db.session.execute(query).all()
                db.session.remove()
        return {row.name: bool(row.enabled) for row in rows}

    return load


def _tell_pages(app: Flask) -> Any:
    """Tell this worker's open staff pages of switches made elsewhere (each worker tells
    its own, so the message does not go through the queue)."""

    def tell(changed: dict[str, bool]) -> None:
        from core.realtime import socketio_of

        for name, enabled in changed.items():
            socketio_of(app).emit(
                "core.plugin_switched",
                {"name": name, "enabled": enabled},
                namespace="/staff",
                ignore_queue=True,
            )

    return tell


def housekeeping(app: Flask) -> None:
    """A server's background task, every second: re-read the plugin switches (open pages
    learn of a switch made elsewhere even when nobody clicks), write the staff activity
    seen here, disconnect the staff sockets of logins that ended on another worker or
    went idle, and give plugins their ``backoffice_housekeeping`` turn."""
    from core.access import staff_activity
    from core.realtime import drop_ended_logins, socketio_of

    socketio = socketio_of(app)
    plugins = app.extensions[EXTENSION]
    while True:
        socketio.sleep(max(min(float(app.config["PLUGIN_STATE_TTL"]), 1.0), 0.2))
        with app.app_context():
            try:
                plugins.states.refresh()
                app.extensions["backoffice.settings"].refresh()
                staff_activity(app).flush(float(app.config["STAFF_ACTIVITY_FLUSH"]))
                drop_ended_logins(app)
                plugins.call_each("backoffice_housekeeping", app=app)  # one failing: logged
            except Exception as exc:  # e.g. the database is down: try again next time
                log.warning("housekeeping: %s", str(exc).splitlines()[0])
            finally:
                db.session.remove()


def _gate_disabled_plugins() -> None:
    plugins = plugin_manager()
    owner = plugins.owner_of_blueprint(request.blueprint)
    if owner is not None and not plugins.states.is_enabled(owner):
        abort(404)


def serve_logo() -> Any:
    """The practice's uploaded logo, for staff and patient pages alike."""
    from core.practice_logo import serve_logo as serve

    return serve()


def favicon() -> Any:
    """Browsers ask every page's origin for /favicon.ico; answer it (a 404 in every console)."""
    from flask import send_from_directory

    return send_from_directory(
        CORE_DIR / "static" / "backoffice",
        "favicon.ico",
        mimetype="image/vnd.microsoft.icon",
        max_age=86400,
    )


@json_route(
    "Whether this worker can serve: database, message queue, rate limits, plugins",
    responses={200: HealthSchema, 503: ApiResponse("Degraded: take the worker out", HealthSchema)},
    tags=("core",),
)
@public_route("monitoring: load balancers and health checks poll it")
def health() -> Any:
    from core.ratelimit import limiter_state

    plugins = plugin_manager()
    from flask import current_app

    try:
        db.session.execute(text("SELECT 1"))
        database = "reachable"
    except Exception as exc:
        database = f"unreachable: {type(exc).__name__}: {exc}"
        db.session.rollback()
    queue = _message_queue_state(current_app)
    healthy = database == "reachable" and queue in {None, "reachable"}
    body = {
        "status": "ok" if healthy else "degraded",
        "database": database,
        "async_mode": current_app.config["ASYNC_MODE"],
        "message_queue": "redis" if current_app.config["SOCKETIO_MESSAGE_QUEUE"] else None,
        "message_queue_state": queue,
        # Counting in this worker's memory while Redis is away keeps logins and check-ins
        # working, so it is reported but is no reason to take the worker out.
        "rate_limits": limiter_state(),
        "plugins": [
            {"name": r.name, "version": r.version, "state": plugins.state_of(r.name)}
            for r in plugins.all_records()
        ],
    }
    return jsonify(body), 200 if healthy else 503


def _message_queue_state(app: Flask) -> str | None:
    """``None`` without a queue; else whether Redis answers a PING within half a second
    (without it, workers stop hearing each other: live updates reach only their own)."""
    url = app.config["SOCKETIO_MESSAGE_QUEUE"]
    if not url:
        return None
    import redis

    client = app.extensions.get("backoffice.health_redis")
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        app.extensions["backoffice.health_redis"] = client
    try:
        client.ping()
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}: {exc}"
    return "reachable"


def _shell_context() -> dict[str, Any]:
    from flask import current_app

    from core.practice_logo import logo_url
    from core.practice_settings import value as setting_value

    plugins = plugin_manager()
    return {
        "dock_sites": current_app.config["DOCK_SITES"],
        "dock_sections": current_app.config["DOCK_SECTIONS"],
        "plugin_assets": _enabled_assets(plugins),
        "practice_name": setting_value("PRACTICE_NAME"),
        "practice_logo_url": logo_url(),
        "topbar_items": _topbar_items,
    }


def _topbar_items() -> list[Markup]:
    """Enabled plugins' top-bar items the signed-in user may use, rendered."""
    from flask import render_template
    from flask_login import current_user

    if not getattr(current_user, "is_authenticated", False):
        return []
    security = current_app.extensions["appbuilder"].sm
    found = [
        (name, item)
        for name, items in plugin_manager().call_each("backoffice_topbar_items")
        for item in items or []
        if isinstance(item, TopbarItem)
    ]
    rendered: list[Markup] = []
    for name, item in sorted(found, key=lambda f: (f[1].order, f[1].name)):
        if item.permission is not None and not security.has_access(*item.permission):
            continue
        try:
            rendered.append(Markup(render_template(item.template)))
        except Exception:
            log.exception("top-bar item %r of plugin %s failed", item.name, name)
    return rendered


def _enabled_assets(plugins: PluginManager) -> dict[str, list[str]]:
    from flask import url_for

    assets: dict[str, list[str]] = {"js": [], "css": []}
    for name, found in plugins.call_each("backoffice_assets"):
        if isinstance(found, Assets):
            endpoint = f"plugin_static_{name}.static"  # versioned: see core.assets
            assets["js"] += [url_for(endpoint, filename=path) for path in found.js]
            assets["css"] += [url_for(endpoint, filename=path) for path in found.css]
    return assets


def dashboard_widgets() -> list[tuple[DashboardWidget, Markup]]:
    """Enabled plugins' widgets, rendered; one that fails shows an error, not a 500."""
    from flask import current_app, render_template

    widgets: list[tuple[str, DashboardWidget]] = [
        (name, widget)
        for name, found in plugin_manager().call_each("backoffice_dashboard_widgets")
        for widget in found or []
    ]
    rendered: list[tuple[DashboardWidget, Markup]] = []
    for name, widget in sorted(widgets, key=lambda w: (w[1].order, w[1].title)):
        try:
            html = Markup(
                render_template(widget.template, appbuilder=current_app.extensions["appbuilder"])
            )
        except Exception:
            log.exception("dashboard widget %r of plugin %s failed", widget.title, name)
            db.session.rollback()
            html = Markup('<p class="text-danger">This panel could not be shown.</p>')
        rendered.append((widget, html))
    return rendered


def set_plugin_enabled(name: str, enabled: bool, actor: str | None = None) -> None:
    """Persist and audit a switch after the dependency rules allow it."""
    plugins = plugin_manager()
    plugins.check_switch(name, enabled)
    row = db.session.get(PluginState, name)
    before = plugins.states.is_enabled(name)
    if row is None:
        row = PluginState(name=name, enabled=enabled)
        db.session.add(row)
    row.enabled = enabled
    row.changed_by = actor or audit.current_actor() or "system"
    from core.models import utcnow

    row.changed_at = utcnow()
    audit.record(
        "plugin.enabled" if enabled else "plugin.disabled",
        target=name,
        details={"before": before, "after": enabled},
        actor=actor,
        commit=False,
    )
    db.session.commit()
    plugins.states.note(name, enabled)
    from core.realtime import emit_to

    # Open pages refresh their menu; other workers also re-read the switch within the TTL.
    emit_to("core.plugin_switched", {"name": name, "enabled": enabled})
