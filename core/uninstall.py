"""``backoffice plugins uninstall NAME``: take a plugin's traces out of the database.

Run it while the plugin is still installed (its migrations are needed to drop its
tables), then ``pip uninstall`` its package and restart the workers. In one audited
commit after the downgrade: the plugin's FAB permissions and view menus (its views'
``class_permission_name``), the ``menu_access`` rows of its menu entries and of its
section (unless another plugin or the host shares that section), the default grants it
had applied (so a reinstall grants them again), its group-rule switches and its on/off
switch row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_appbuilder.security.sqla.models import assoc_permissionview_role
from sqlalchemy import delete, select

from core import audit
from core.database import db
from core.models import AppliedGrant, GroupRuleState, PluginState
from core.plugins import PluginSwitchError, plugin_manager

CORE_SECTIONS = {"Admin", "Security"}


@dataclass
class Uninstalled:
    """What ``uninstall`` removed, for the command's report and the audit row."""

    name: str
    downgraded: bool = False
    view_menus: list[str] = field(default_factory=list)
    grants: int = 0
    group_rules: list[str] = field(default_factory=list)
    switch_row: bool = False

    def summary(self) -> str:
        parts = [
            "migration branch downgraded to base" if self.downgraded else "no migrations applied",
            f"{len(self.view_menus)} permission view menus removed",
            f"{self.grants} applied grants forgotten",
            f"{len(self.group_rules)} group rules removed",
            "switch removed" if self.switch_row else "no switch row",
        ]
        return f"{self.name}: " + "; ".join(parts)


def branch_applied(name: str) -> bool:
    """Whether any applied revision belongs to the plugin's branch."""
    from core import migrate

    if name not in migrate.plugin_version_dirs():
        return False
    script = ScriptDirectory.from_config(migrate.alembic_config())
    with db.engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    for head in heads:
        for revision in script.iterate_revisions(head, "base"):
            if revision is not None and name in revision.branch_labels:
                return True
    return False


def owned_menus(name: str) -> set[str]:
    """Menu entries of the plugin; its section only when nobody else files under it."""
    plugins = plugin_manager()
    record = plugins.records[name]
    others = {
        other.menu_section or other.title
        for other in plugins.records.values()
        if other.name != name and other.info is not None
    } | CORE_SECTIONS
    section = record.menu_section or record.title
    menus = set(record.menu_names)
    if section in others:
        menus.discard(section)
    return menus


def uninstall(name: str, actor: str | None = None) -> Uninstalled:
    """Downgrade the plugin's branch and remove its rows; one commit, audited."""
    plugins = plugin_manager()
    record = plugins.records.get(name)
    if record is None:
        raise PluginSwitchError(
            f"no plugin named {name!r} is installed; uninstall it before removing its package"
        )
    if record.failed:
        raise PluginSwitchError(f"plugin {name!r} failed to load; fix it first (see its error)")
    plugins.check_switch(name, False)  # nothing enabled may still require it
    done = Uninstalled(name=name)
    if branch_applied(name):
        from core import migrate

        migrate.downgrade(f"{name}@base")
        done.downgraded = True
    db.session.remove()
    done.view_menus = sorted(record.view_menus | owned_menus(name))
    done.grants = _forget_grants(name, set(done.view_menus))
    _remove_permissions(set(record.view_menus), owned_menus(name))
    done.group_rules = _remove_group_rules(name)
    row = db.session.get(PluginState, name)
    if row is not None:
        db.session.delete(row)
        done.switch_row = True
    audit.record(
        "plugin.uninstalled",
        target=name,
        details={
            "downgraded": done.downgraded,
            "view_menus": done.view_menus,
            "grants": done.grants,
            "group_rules": done.group_rules,
        },
        actor=actor,
        commit=False,
    )
    db.session.commit()
    return done


def _sm() -> Any:
    return current_app.extensions["appbuilder"].sm


def _remove_permissions(view_menus: set[str], menus: set[str]) -> None:
    """Every permission on the plugin's view menus; ``menu_access`` on its menu entries."""
    sm = _sm()
    pv, vm, perm = sm.permissionview_model, sm.viewmenu_model, sm.permission_model
    whole = select(pv.id).join(vm, pv.view_menu_id == vm.id).where(vm.name.in_(view_menus))
    menu_access = (
        select(pv.id)
        .join(vm, pv.view_menu_id == vm.id)
        .join(perm, pv.permission_id == perm.id)
        .where(vm.name.in_(menus), perm.name == "menu_access")
    )
    ids = set(db.session.scalars(whole)) | set(db.session.scalars(menu_access))
    if ids:
        db.session.execute(
            delete(assoc_permissionview_role).where(
                assoc_permissionview_role.c.permission_view_id.in_(ids)
            )
        )
        db.session.execute(delete(pv).where(pv.id.in_(ids)))
    still_used = select(pv.view_menu_id)
    db.session.execute(delete(vm).where(vm.name.in_(view_menus | menus), vm.id.not_in(still_used)))


def _forget_grants(name: str, view_menus: set[str]) -> int:
    """The plugin's applied default grants, so that a reinstall applies them again."""
    rows = db.session.scalars(
        select(AppliedGrant).where(AppliedGrant.view_menu.in_(view_menus))
    ).all()
    for row in rows:
        db.session.delete(row)
    return len(rows)


def _remove_group_rules(name: str) -> list[str]:
    rules = [rule.name for rule in plugin_manager().call_one(name, "backoffice_group_rules") or []]
    if rules:
        db.session.execute(delete(GroupRuleState).where(GroupRuleState.rule.in_(rules)))
    return rules
