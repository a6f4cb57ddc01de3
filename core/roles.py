"""Roles and their default grants.

FAB only deletes permissions in ``security_cleanup``, which the host never calls on
boot; ``sync`` adds what is missing and applies each default grant once, so whatever
an admin grants or revokes afterwards survives restarts and upgrades.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from core.database import db
from core.models import AppliedGrant
from core.plugins import plugin_manager

ADMIN = "Admin"
SECURITY_ADMIN = "Security Admin"
PRACTICE_ADMIN = "Practice Admin"
CLINICIAN = "Clinician"
STAFF = "Staff"
ROLES = (ADMIN, SECURITY_ADMIN, PRACTICE_ADMIN, CLINICIAN, STAFF)

SECURITY_VIEWS = (
    "UserDBModelView",
    "RoleModelView",
    "UserGroupModelView",
    "UserInfoEditView",
    "ResetPasswordView",
    "TelehealthAccess",
    "GroupRules",
    "AuditLog",
    "LockedAccounts",
)
SECURITY_MENUS = (
    "Security",
    "List Users",
    "List Roles",
    "List Groups",
    "Telehealth Users",
    "Group Rules",
    "Audit Log",
    "Locked Accounts",
)
EVERYONE = (
    ("can_userinfo", "UserDBModelView"),
    ("can_this_form_get", "ResetMyPasswordView"),
    ("can_this_form_post", "ResetMyPasswordView"),
)

CORE_GRANTS: dict[str, list[tuple[str, str]]] = {
    SECURITY_ADMIN: [
        *(("*", view) for view in SECURITY_VIEWS),
        *(("menu_access", menu) for menu in SECURITY_MENUS),
    ],
    PRACTICE_ADMIN: [
        ("can_read", "PluginAdmin"),
        ("can_write", "PluginAdmin"),
        ("menu_access", "Admin"),
        ("menu_access", "Plugins"),
        ("can_read", "EventCatalogue"),
        ("menu_access", "Domain Events"),
        ("can_read", "AuditLog"),
        ("menu_access", "Security"),
        ("menu_access", "Audit Log"),
    ],
    CLINICIAN: [*EVERYONE],
    STAFF: [*EVERYONE],
}


def default_grants() -> dict[str, list[tuple[str, str]]]:
    grants: dict[str, list[tuple[str, str]]] = {role: list(g) for role, g in CORE_GRANTS.items()}
    for _name, found in plugin_manager().call_each("backoffice_role_grants"):
        for role, pairs in (found or {}).items():
            grants.setdefault(role, []).extend(pairs)
    return grants


def sync() -> None:
    appbuilder = current_app.extensions["appbuilder"]
    sm = appbuilder.sm
    sm.add_role(sm.auth_role_public)
    for name in ROLES:
        sm.add_role(name)
    # After the roles exist: FAB grants every new permission to the Admin role.
    appbuilder.add_permissions(update_perms=True)
    for role_name, pairs in default_grants().items():
        role = sm.find_role(role_name) or sm.add_role(role_name)
        for permission, view_menu in pairs:
            if db.session.get(AppliedGrant, (role_name, permission, view_menu)) is not None:
                continue
            for pv in _permission_views(sm, permission, view_menu):
                sm.add_permission_role(role, pv)
            db.session.add(AppliedGrant(role=role_name, permission=permission, view_menu=view_menu))
    db.session.commit()


def in_sync() -> bool:
    """Whether every role, permission and default grant that :func:`sync` would add is
    there already: three queries, so a worker's boot skips the hundreds of a full sync
    unless a plugin was installed or upgraded since."""
    appbuilder = current_app.extensions["appbuilder"]
    sm = appbuilder.sm
    roles = set(db.session.scalars(select(sm.role_model.name)))
    if not {sm.auth_role_public, *ROLES} <= roles:
        return False
    pv = sm.permissionview_model
    have = set(
        db.session.execute(
            select(sm.permission_model.name, sm.viewmenu_model.name)
            .select_from(pv)
            .join(sm.permission_model, pv.permission_id == sm.permission_model.id)
            .join(sm.viewmenu_model, pv.view_menu_id == sm.viewmenu_model.id)
        ).all()
    )
    if not _declared_permissions(appbuilder) <= have:
        return False
    applied = set(
        db.session.execute(
            select(AppliedGrant.role, AppliedGrant.permission, AppliedGrant.view_menu)
        ).all()
    )
    wanted = {(role, p, v) for role, pairs in default_grants().items() for p, v in pairs}
    return wanted <= applied


def _declared_permissions(appbuilder: Any) -> set[tuple[str, str]]:
    """What ``appbuilder.add_permissions`` creates: each view's permissions, and
    ``menu_access`` on every menu category and item."""
    declared = {
        (permission, view.class_permission_name)
        for view in appbuilder.baseviews
        for permission in view.base_permissions or ()
    }
    for category in appbuilder.menu.get_list():
        declared.add(("menu_access", category.name))
        declared |= {("menu_access", i.name) for i in category.childs if i.name != "-"}
    return declared


def _permission_views(sm: Any, permission: str, view_menu: str) -> list[Any]:
    """``("*", view)`` means every permission the view has; others name one pair."""
    if permission != "*":
        return [sm.add_permission_view_menu(permission, view_menu)]
    view = sm.find_view_menu(view_menu)
    return list(sm.find_permissions_view_menu(view)) if view is not None else []
