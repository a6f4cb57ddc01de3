"""Permission checks answered from one query per request.

Flask-AppBuilder asks the database once per ``has_access`` call, and a page asks for every
menu item it might show (about thirty on the back office's pages). Here the permissions of
a set of roles are loaded once per request (or Socket.IO event) and answered from memory;
nothing is kept across requests, so a revoked permission counts on the next request.
"""

from __future__ import annotations

from typing import Any

from flask import g, has_app_context
from flask_appbuilder.security.sqla.models import assoc_permissionview_role
from sqlalchemy import select

_CACHE = "bo_role_permissions"


class RequestPermissionCache:
    """A mixin for the security manager (before FAB's SQLA manager in the bases)."""

    permission_model: Any
    viewmenu_model: Any
    permissionview_model: Any
    session: Any

    def exist_permission_on_roles(
        self, view_name: str, permission_name: str, role_ids: list[int]
    ) -> bool:
        return (permission_name, view_name) in self.permissions_of_roles(role_ids)

    def permissions_of_roles(self, role_ids: list[int]) -> frozenset[tuple[str, str]]:
        key = tuple(sorted(set(role_ids)))
        cache: dict[tuple[int, ...], frozenset[tuple[str, str]]] = (
            g.setdefault(_CACHE, {}) if has_app_context() else {}
        )
        found = cache.get(key)
        if found is None:
            found = cache[key] = self._load_permissions(key)
        return found

    def _load_permissions(self, role_ids: tuple[int, ...]) -> frozenset[tuple[str, str]]:
        pv, link = self.permissionview_model, assoc_permissionview_role
        rows = self.session.execute(
            select(self.permission_model.name, self.viewmenu_model.name)
            .select_from(pv)
            .join(link, link.c.permission_view_id == pv.id)
            .join(self.permission_model, pv.permission_id == self.permission_model.id)
            .join(self.viewmenu_model, pv.view_menu_id == self.viewmenu_model.id)
            .where(link.c.role_id.in_(role_ids))
        )
        return frozenset((permission, view) for permission, view in rows)
