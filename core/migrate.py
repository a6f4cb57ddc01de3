"""Alembic driven from the app: core's chain plus one branch per plugin."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from flask_appbuilder import Model

from core.database import db, metadata
from core.plugins import plugin_manager

CORE_MIGRATIONS = Path(__file__).parent / "migrations"
CORE_BRANCH = "core"


def plugin_version_dirs() -> dict[str, Path]:
    """Each loaded plugin's versions folder: its hook's answer or ``<plugin>/migrations``."""
    plugins = plugin_manager()
    found: dict[str, Path] = {}
    for record in plugins.loaded():
        declared = plugins.call_one(record.name, "backoffice_migrations_dir")
        path = (
            Path(declared)
            if declared
            else (record.directory / "migrations" if record.directory else None)
        )
        if path is not None and path.is_dir():
            found[record.name] = path
    return found


def _plugin_versions_folder(plugin: str) -> Path:
    plugins = plugin_manager()
    declared = plugins.call_one(plugin, "backoffice_migrations_dir")
    if declared:
        return Path(declared)
    record = plugins.records[plugin]
    if record.directory is None:
        raise ValueError(f"plugin {plugin!r} has no folder for migrations")
    return record.directory / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(CORE_MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    locations = [CORE_MIGRATIONS / "versions", *plugin_version_dirs().values()]
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    return cfg


class MissingRevisions(Exception):
    """The database holds revisions that no installed plugin (nor core) provides."""


def missing_revisions() -> list[str]:
    """Applied revisions whose scripts are gone: a removed or failed plugin's branch."""
    script = ScriptDirectory.from_config(alembic_config())
    with db.engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    missing: list[str] = []
    for head in heads:
        try:
            script.get_revision(head)
        except (ResolutionError, CommandError):
            missing.append(head)
    return missing


def check_revisions() -> None:
    """Refuse with one sentence rather than Alembic's "Can't locate revision"."""
    missing = missing_revisions()
    if missing:
        raise MissingRevisions(
            f"The database holds migration {', '.join(repr(m) for m in missing)} of a plugin "
            "that is no longer installed or did not load: reinstall it (see `backoffice "
            "plugins list` for a load error) and run `backoffice plugins uninstall NAME` "
            "before removing its package."
        )


def upgrade(revision: str = "heads") -> None:
    check_revisions()
    command.upgrade(alembic_config(), revision)


def downgrade(revision: str) -> None:
    command.downgrade(alembic_config(), revision)


def _tables_of_module_prefix(prefix: str) -> set[str]:
    return {
        mapper.local_table.name
        for mapper in Model.registry.mappers
        if mapper.class_.__module__.startswith(prefix) and mapper.local_table is not None
    }


def revision(message: str, plugin: str | None = None) -> str:
    """Autogenerate a revision holding only the changes to the tables of core or ``plugin``."""
    if plugin is not None:
        _plugin_versions_folder(plugin).mkdir(exist_ok=True)  # before alembic lists folders
    cfg = alembic_config()
    if plugin is None:
        owned = _tables_of_module_prefix("core.") | {
            t for t in metadata.tables if t.startswith("ab_")
        }
        branch, version_path = CORE_BRANCH, CORE_MIGRATIONS / "versions"
    else:
        record = plugin_manager().records[plugin]
        assert record.module is not None and record.directory is not None
        owned = _tables_of_module_prefix(record.module.__name__ + ".")
        branch, version_path = plugin, _plugin_versions_folder(plugin)
    cfg.attributes["include_object"] = _only_tables(owned)
    script = ScriptDirectory.from_config(cfg)
    has_branch = branch in {label for rev in script.walk_revisions() for label in rev.branch_labels}
    options: dict[str, Any] = {"autogenerate": True, "version_path": str(version_path)}
    if has_branch:
        options["head"] = f"{branch}@head"
    else:
        options.update(head="base", branch_label=branch)
        if plugin is not None:
            options["depends_on"] = f"{CORE_BRANCH}@head"
    result = command.revision(cfg, message=message, **options)
    scripts = result if isinstance(result, list) else [result]
    return ", ".join(str(s.path) for s in scripts if s is not None)


def _only_tables(tables: set[str]) -> Any:
    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return name in tables
        table = getattr(obj, "table", None)
        return table is None or table.name in tables

    return include


def differences() -> list[Any]:
    """What autogenerate would change: empty when the database matches the models."""
    with db.engine.connect() as connection:
        opts: dict[str, Any] = {"compare_type": True}
        virtual = _sqlite_virtual_tables(connection)
        if virtual:
            opts["include_object"] = _not_virtual(virtual)
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, metadata))


def _sqlite_virtual_tables(connection: Any) -> set[str]:
    """SQLite virtual tables (e.g. an FTS5 search index) and their shadow tables: made by
    a migration's own SQL, described by no model."""
    if connection.dialect.name != "sqlite":
        return set()
    from sqlalchemy import text

    names = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    rows = list(names)
    virtual = {n for n, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL TABLE")}
    return {n for n, _sql in rows if any(n == v or n.startswith(v + "_") for v in virtual)}


def _not_virtual(virtual: set[str]) -> Any:
    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (type_ == "table" and reflected and compare_to is None and name in virtual)

    return include
