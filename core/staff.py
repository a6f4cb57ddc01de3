"""The staff directory: who works here and who may log in now, cached per worker.

Anonymous pages (the patient's join page lists the clinicians) and every waiting-room
change read it, so it is loaded in a constant number of queries whatever the number of
staff, and kept for ``STAFF_CACHE_TTL`` seconds. A commit in this worker that touches a
user, a role, the telehealth switch or a group rule drops it at once; other workers see
the change within the TTL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import chain
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload

from core import access
from core.database import db
from core.models import GroupRuleState, UserAccess

EXTENSION = "backoffice.staff"
_CHANGED = "backoffice.staff_changed"


@dataclass(frozen=True)
class StaffMember:
    """A back-office user as plugins may see them."""

    id: int
    username: str
    name: str
    roles: tuple[str, ...]
    can_log_in: bool


class StaffDirectory:
    """Every staff member, loaded at most once per ``ttl`` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._members: tuple[StaffMember, ...] = ()
        self._loaded_at = float("-inf")

    def members(self) -> tuple[StaffMember, ...]:
        now = time.monotonic()
        if now - self._loaded_at > self.ttl:
            self._members = _load()
            self._loaded_at = now
        return self._members

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")


def _load() -> tuple[StaffMember, ...]:
    """Four queries: users, their roles, the telehealth switches, the login rule's states."""
    user_model = current_app.extensions["appbuilder"].sm.user_model
    users = db.session.scalars(
        select(user_model).options(selectinload(user_model.roles)).order_by(user_model.username)
    ).all()
    enabled = set(
        db.session.scalars(select(UserAccess.user_id).where(UserAccess.telehealth_enabled))
    )
    rule = access.telehealth_rule()
    rows = db.session.scalars(select(GroupRuleState).where(GroupRuleState.rule == rule.name))
    states = {row.role_id: row.enabled for row in rows}

    def rule_on(role: Any) -> bool:
        return states.get(role.id, role.name in rule.default_roles)

    return tuple(
        StaffMember(
            id=user.id,
            username=user.username,
            name=f"{user.first_name} {user.last_name}".strip(),
            roles=tuple(r.name for r in user.roles),
            can_log_in=access.refusal_given(user, user.id in enabled, rule_on) is None,
        )
        for user in users
    )


def directory() -> StaffDirectory:
    found: StaffDirectory = current_app.extensions[EXTENSION]
    return found


def staff_members(role: str | None = None) -> list[StaffMember]:
    members = directory().members()
    return [m for m in members if role is None or role in m.roles]


def init_staff(app: Any) -> None:
    app.extensions[EXTENSION] = StaffDirectory(float(app.config["STAFF_CACHE_TTL"]))
    if not event.contains(Session, "after_flush", _note_changes):
        event.listen(Session, "after_flush", _note_changes)
        event.listen(Session, "after_commit", _drop_if_changed)
        event.listen(Session, "after_rollback", _forget_changes)


def _watched() -> tuple[type, ...]:
    sm = current_app.extensions["appbuilder"].sm
    return (sm.user_model, sm.role_model, UserAccess, GroupRuleState)


def _note_changes(session: Session, _context: Any) -> None:
    if not has_app_context() or EXTENSION not in current_app.extensions:
        return
    watched = _watched()
    if any(isinstance(o, watched) for o in chain(session.new, session.dirty, session.deleted)):
        session.info[_CHANGED] = True


def _drop_if_changed(session: Session) -> None:
    if session.info.pop(_CHANGED, False) and has_app_context():
        extension = current_app.extensions.get(EXTENSION)
        if extension is not None:
            extension.invalidate()


def _forget_changes(session: Session) -> None:
    session.info.pop(_CHANGED, None)
