"""Click commands of ``backoffice``: run, db, plugins, seed-demo, sync-permissions."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from config import ConfigError
from core.app import create_app, plugin_manager, set_plugin_enabled
from core.plugins import PluginSwitchError


def _make_app() -> Flask:
    try:
        app = create_app()
    except ConfigError as exc:
        raise SystemExit(f"backoffice: {exc}") from exc
    for command in _plugin_commands(app):
        app.cli.add_command(command)  # FlaskGroup looks plugin commands up on app.cli
    return app


def _plugin_commands(app: Flask) -> list[click.Command]:
    plugins = app.extensions["backoffice.plugins"]
    commands: list[click.Command] = []
    for record in plugins.loaded():
        commands += plugins.call_one(record.name, "backoffice_cli_commands") or []
    return commands


cli = FlaskGroup(
    create_app=_make_app,
    add_default_commands=False,
    add_version_option=False,
    help="The telehealth back office.",
)


@cli.command("run")
@click.option("--host", default=None, help="Address to bind (default: BACKOFFICE_HOST).")
@click.option("--port", default=None, type=int, help="Port (default: BACKOFFICE_PORT).")
@with_appcontext
def run_command(host: str | None, port: int | None) -> None:
    """Serve the back office with Socket.IO in the configured async mode."""
    from core.realtime import socketio_of

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    socketio = socketio_of(app)
    host = host or app.config["HOST"]
    port = port or app.config["PORT"]
    mode = app.config["ASYNC_MODE"]
    click.echo(f"Serving on http://{host}:{port} (async mode: {mode})", err=True)
    click.echo(async_mode_line(mode), err=True)
    options: dict[str, Any] = {"host": host, "port": port, "use_reloader": False}
    if mode == "eventlet":
        options["max_size"] = app.config["MAX_CONNECTIONS"]
    if mode == "threading":
        options["allow_unsafe_werkzeug"] = True
    # FlaskGroup marks the process as a CLI run, which turns app.run() (threading mode)
    # into a no-op; this command is the server, so clear the mark.
    os.environ.pop("FLASK_RUN_FROM_CLI", None)
    from core.app import housekeeping

    socketio.start_background_task(housekeeping, app)
    from core.collector import tune_for_server

    tune_for_server()
    if mode == "eventlet":
        import eventlet.wsgi

        listener = _listener(eventlet.listen((host, port)))
        eventlet.wsgi.server(listener, app, log_output=False, max_size=options["max_size"])
    elif mode == "gevent":
        from gevent import pywsgi
        from gevent.socket import socket as green_socket
        from geventwebsocket.handler import WebSocketHandler

        sock = _listener(green_socket())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        pywsgi.WSGIServer(sock, app, handler_class=WebSocketHandler, log=None).serve_forever()
    else:
        socketio.run(app, log_output=False, **options)


ASYNC_MODE_NOTES = {
    "eventlet": "the default; its maintainers now discourage it for new projects",
    "gevent": "the same green model as eventlet, and maintained",
    "threading": "one thread per connection; for development and small offices",
}


def async_mode_line(mode: str) -> str:
    """One line at startup: the mode, why one might change it, and how."""
    note = ASYNC_MODE_NOTES.get(mode, "unknown")
    others = " or ".join(m for m in ASYNC_MODE_NOTES if m != mode)
    return (
        f"Async mode: {mode} ({note}). Set BACKOFFICE_ASYNC_MODE={others} to change it;"
        " see docs/deployment.md."
    )


def _listener(sock: Any) -> Any:
    """A listening socket whose connections send at once (TCP_NODELAY, inherited by every
    accepted socket): without it a page written in two pieces waits for the browser's
    delayed ACK, 40 ms on Linux, which is most of a page's time."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


@cli.group("db")
def db_group() -> None:
    """Database schema (Alembic: one chain for core, one branch per plugin)."""


@db_group.command("upgrade")
@click.argument("revision", default="heads")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply migrations, then create missing roles and permissions."""
    from core import migrate, roles

    try:
        migrate.upgrade(revision)
    except migrate.MissingRevisions as exc:
        raise click.ClickException(str(exc)) from exc
    roles.sync()
    click.echo(f"Database upgraded to {revision}; roles and permissions synced.")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Undo migrations down to REVISION, e.g. ``visit_notes@base`` before uninstalling it."""
    from core import migrate

    migrate.downgrade(revision)
    click.echo(f"Database downgraded to {revision}.")


@db_group.command("check")
@with_appcontext
def db_check() -> None:
    """Exit non-zero when the database differs from the models."""
    from core import migrate

    diff = migrate.differences()
    if diff:
        click.echo("\n".join(map(str, diff)))
        sys.exit(1)
    click.echo("Database matches the models.")


@db_group.command("revision")
@click.option(
    "--plugin", default=None, help="Plugin whose branch gets the revision (default: core)."
)
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(plugin: str | None, message: str) -> None:
    """Autogenerate a migration for core or one plugin."""
    from core import migrate

    path = migrate.revision(message, plugin)
    click.echo(f"Wrote {path}")


@cli.group("plugins")
def plugins_group() -> None:
    """List, enable and disable plugins."""


@plugins_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@with_appcontext
def plugins_list(as_json: bool) -> None:
    plugins = plugin_manager()
    rows = [
        {
            "name": record.name,
            "version": record.version,
            "title": record.title,
            "enabled": plugins.state_of(record.name) == "enabled",
            "state": plugins.state_of(record.name),
            "error": record.error,
            "requires": list(record.requires),
            "menu_section": record.menu_section,
        }
        for record in plugins.all_records()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']:<20} {row['version']:<10} {row['state']:<9} {row['title']}")


def _switch(name: str, enabled: bool) -> None:
    try:
        set_plugin_enabled(name, enabled, actor="cli")
    except PluginSwitchError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{name} {'enabled' if enabled else 'disabled'}")


@plugins_group.command("enable")
@click.argument("name")
@with_appcontext
def plugins_enable(name: str) -> None:
    _switch(name, True)


@plugins_group.command("disable")
@click.argument("name")
@with_appcontext
def plugins_disable(name: str) -> None:
    _switch(name, False)


@plugins_group.command("uninstall")
@click.argument("name")
@with_appcontext
def plugins_uninstall(name: str) -> None:
    """Downgrade NAME's migrations and remove its permissions, menus and switch (audited);
    then ``pip uninstall`` its package and restart the workers."""
    from core.uninstall import uninstall

    try:
        done = uninstall(name, actor="cli")
    except PluginSwitchError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(done.summary())
    click.echo("Now remove its package (pip uninstall) and restart the workers.")


@cli.command("events")
@click.option("--markdown", is_flag=True, help="The table of docs/plugin-guide.md.")
@with_appcontext
def events_command(markdown: bool) -> None:
    """The domain-event catalogue: every event the installed plugins declare."""
    from core.events import catalogue_markdown, describe_payload

    catalogue = plugin_manager().catalogue or {}
    if markdown:
        click.echo(catalogue_markdown(catalogue), nl=False)
        return
    for name in sorted(catalogue):
        entry = catalogue[name]
        click.echo(f"{name:<30} {entry.plugin:<14} {describe_payload(entry.spec.schema)}")


@cli.command("new-plugin", with_appcontext=False)
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to create the project in (default: here).",
)
def new_plugin(name: str, parent: Path) -> None:
    """Scaffold a pip-installable plugin package NAME of the standard shape."""
    from core.scaffold import ScaffoldError, create

    try:
        target = create(name, parent)
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Wrote {target}")
    click.echo(f"Next: pip install -e {target} && backoffice db upgrade && (cd {target} && pytest)")


@cli.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when users already exist.")
@with_appcontext
def seed_demo(if_empty: bool) -> None:
    """Create the demo practice and print its logins."""
    from core import demo

    password = demo.seed(only_if_empty=if_empty)
    click.echo(demo.banner(password))


@cli.command("sync-permissions")
@with_appcontext
def sync_permissions() -> None:
    """Create missing roles and permissions (never deletes what admins granted)."""
    from core import roles

    roles.sync()
    click.echo("Roles and permissions synced.")


@cli.group("settings")
def settings_group() -> None:
    """Practice settings kept in the database."""


@settings_group.command("reseal")
@with_appcontext
def settings_reseal() -> None:
    """Seal every stored secret setting again with the first of SETTINGS_SECRET_KEYS."""
    from core.practice_settings import reseal

    count = reseal(actor="cli")
    click.echo(f"{count} secret setting(s) sealed with the current key.")
