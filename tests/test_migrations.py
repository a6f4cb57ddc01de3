"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import delete, inspect

from core import migrate, roles
from core.database import db
from tests.conftest import TEST_SECRET, base_overrides


def fresh_app(databases: Any, backend: str, tmp_path: Path) -> Flask:
    from core.app import create_app

    return create_app(base_overrides(databases.empty(backend), tmp_path / "instance"))


def test_migrations_match_the_models(databases: Any, backend: str, tmp_path: Path) -> None:
    app = fresh_app(databases, backend, tmp_path)
    with app.app_context():
        assert inspect(db.engine).get_table_names() == []
        migrate.upgrade()
        assert migrate.differences() == []
        tables = set(inspect(db.engine).get_table_names())
        db.engine.dispose()
    assert {"ab_user", "bo_audit_log", "bo_plugin_state", "tools_speed_test_result"} <= tables
    assert TEST_SECRET


def test_one_chain_for_core_and_a_branch_per_plugin(app: Flask) -> None:
    with app.app_context():
        script = ScriptDirectory.from_config(migrate.alembic_config())
        labels = {label for rev in script.walk_revisions() for label in rev.branch_labels}
        tools_base = script.get_revision("tools_0001")
    assert {"core", "tools"} <= labels
    assert tools_base is not None and tools_base.dependencies == "core_0001"
    assert tools_base.down_revision is None and "tools" in tools_base.branch_labels


def test_drift_is_detected(app: Flask) -> None:
    from sqlalchemy import text

    with app.app_context():
        db.session.execute(text("DROP TABLE tools_speed_test_result"))
        db.session.commit()
        diff = migrate.differences()
    assert any(op[0] == "add_table" and op[1].name == "tools_speed_test_result" for op in diff)


def test_admin_grants_survive_resync(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    with app.app_context():
        sm = app.extensions["appbuilder"].sm
        clinician = sm.find_role("Clinician")
        default = sm.find_permission_view_menu("can_show", "SpeedTest")
        custom = sm.find_permission_view_menu("can_read", "PluginAdmin")
        sm.del_permission_role(clinician, default)  # an admin revokes a default grant
        sm.add_permission_role(clinician, custom)  # and grants something extra
        roles.sync()
    restarted = make_app()  # a restart syncs permissions again
    with restarted.app_context():
        sm = restarted.extensions["appbuilder"].sm
        roles.sync()
        granted = {str(pv) for pv in sm.find_role("Clinician").permissions}
    assert "can read on PluginAdmin" in granted
    assert "can show on SpeedTest" not in granted


def test_a_boot_skips_the_sync_only_when_nothing_is_missing(make_app: Callable[..., Flask]) -> None:
    """The boot's quick check: a permission or a default grant missing (a plugin installed
    or upgraded) means a full sync, which brings it back."""
    app = make_app()
    with app.app_context():
        sm = app.extensions["appbuilder"].sm
        assert roles.in_sync()
        speed_test = sm.find_permission_view_menu("can_show", "SpeedTest")
        for role in sm.get_all_roles():
            sm.del_permission_role(role, speed_test)
        sm.del_permission_view_menu("can_show", "SpeedTest")
        assert sm.find_permission_view_menu("can_show", "SpeedTest") is None
        assert not roles.in_sync()
    restarted = make_app()
    with restarted.app_context():
        sm = restarted.extensions["appbuilder"].sm
        assert sm.find_permission_view_menu("can_show", "SpeedTest") is not None
        assert roles.in_sync()
        from core.models import AppliedGrant

        db.session.execute(delete(AppliedGrant).where(AppliedGrant.role == "Staff"))
        db.session.commit()
        assert not roles.in_sync()
