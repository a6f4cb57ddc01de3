"""Who may be in the back office right now: the telehealth gate, group rules and sessions.

A user may work only while active, telehealth-enabled and holding a role whose
*Telehealth Back Office access* rule is on. Each user has one live session; a new login
replaces it. Every staff request and Socket.IO event is checked against these rules, so
switching any of them off ends the user's session at once.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, session
from sqlalchemy import bindparam as sa_bind
from sqlalchemy import select, update

from core import audit
from core.database import db
from core.models import GroupRuleState, UserAccess, utcnow
from core.types import GroupRule

TELEHEALTH_RULE = "Telehealth Back Office access"
CORE_RULES = (
    GroupRule(
        TELEHEALTH_RULE,
        "Members of the role may log in to the Telehealth Back Office.",
        default_roles=("Admin", "Security Admin", "Practice Admin", "Clinician", "Staff"),
    ),
)

SESSION_ID = "bo_sid"
LOGIN_AT = "bo_login_at"
LAST_SEEN = "bo_seen"


@dataclass(frozen=True)
class Ending:
    """Why a session ended, as a code for clients and a sentence for people."""

    code: str
    message: str


SIGNED_IN_ELSEWHERE = Ending(
    "signed_in_elsewhere",
    "You were signed out because your username signed in on another browser or device.",
)
SESSION_REVOKED = Ending(
    "revoked", "Your session was ended because your access to the back office changed."
)
PERMISSIONS_CHANGED = Ending(
    "permissions_changed", "Your permissions changed; please sign in again."
)
IDLE = Ending("idle", "You were signed out after a period of inactivity.")
EXPIRED = Ending("expired", "Your session reached its maximum length; please sign in again.")


# --- group rules -----------------------------------------------------------------


def all_rules() -> list[GroupRule]:
    from core.plugins import plugin_manager

    rules = list(CORE_RULES)
    plugins = plugin_manager()
    for record in plugins.loaded():
        rules += plugins.call_one(record.name, "backoffice_group_rules") or []
    return rules


def rule_enabled(role: Any, rule: GroupRule) -> bool:
    state = db.session.get(GroupRuleState, (role.id, rule.name))
    return state.enabled if state is not None else role.name in rule.default_roles


def set_rule(role: Any, rule: GroupRule, enabled: bool) -> None:
    before = rule_enabled(role, rule)
    state = db.session.get(GroupRuleState, (role.id, rule.name))
    if state is None:
        state = GroupRuleState(role_id=role.id, rule=rule.name, enabled=enabled)
        db.session.add(state)
    state.enabled = enabled
    state.changed_at = utcnow()
    state.changed_by = audit.current_actor() or "system"
    audit.record(
        "security.group_rule_changed",
        target=f"{role.name}: {rule.name}",
        details={"role": role.name, "rule": rule.name, "before": before, "after": enabled},
        commit=False,
    )
    db.session.commit()
    if not enabled and rule.name == TELEHEALTH_RULE:
        for user in list(role.user):
            if refusal(user) is not None:
                end_sessions(user.id, SESSION_REVOKED)


# --- the telehealth gate -----------------------------------------------------------


def access_of(user_id: int) -> UserAccess:
    row = db.session.get(UserAccess, user_id)
    if row is None:
        row = UserAccess(user_id=user_id, telehealth_enabled=False)
        db.session.add(row)
        db.session.flush()
    return row


def telehealth_enabled(user_id: int) -> bool:
    row = db.session.get(UserAccess, user_id)
    return bool(row and row.telehealth_enabled)


def set_telehealth(user: Any, enabled: bool) -> None:
    row = access_of(user.id)
    before = row.telehealth_enabled
    row.telehealth_enabled = enabled
    audit.record(
        "security.telehealth_changed",
        target=user.username,
        details={"before": before, "after": enabled},
        commit=False,
    )
    db.session.commit()
    if not enabled:
        end_sessions(user.id, SESSION_REVOKED)


def telehealth_rule() -> GroupRule:
    return next(r for r in CORE_RULES if r.name == TELEHEALTH_RULE)


def refusal(user: Any) -> str | None:
    """Why this user may not use the back office now, or ``None`` when they may."""
    rule = telehealth_rule()
    return refusal_given(user, telehealth_enabled(user.id), lambda role: rule_enabled(role, rule))


def refusal_given(user: Any, telehealth: bool, rule_on: Callable[[Any], bool]) -> str | None:
    """:func:`refusal` from facts the caller already has (the staff directory loads them
    for every user at once)."""
    if not user.is_active:
        return "Your account is disabled. Contact your Security Administrator."
    if not telehealth:
        return (
            "Your account is not enabled for telehealth. "
            "Ask your Security Administrator to enable it."
        )
    if not any(rule_on(role) for role in user.roles):
        return (
            f"None of your roles has the '{TELEHEALTH_RULE}' group rule turned on. "
            "Ask your Security Administrator."
        )
    return None


# --- one session per user ------------------------------------------------------------


def start_session(user: Any) -> str:
    """Make this browser the user's only live session; the older one is told it ended."""
    row = access_of(user.id)
    previous = row.session_id
    row.session_id = secrets.token_urlsafe(24)
    row.session_started_at = row.last_active_at = utcnow()
    db.session.commit()
    now = _now()
    session[SESSION_ID] = row.session_id
    session[LOGIN_AT] = now
    session[LAST_SEEN] = now
    if previous:
        _tell_session(previous, SIGNED_IN_ELSEWHERE)
    return row.session_id


def end_sessions(user_id: int, ending: Ending) -> None:
    row = db.session.get(UserAccess, user_id)
    if row is None or row.session_id is None:
        return
    previous = row.session_id
    row.session_id = None
    db.session.commit()
    _tell_session(previous, ending)


def _tell_session(session_id: str, ending: Ending) -> None:
    from core.realtime import drop_ended_logins, emit_to

    emit_to(
        "core.session_ended",
        {"reason": ending.code, "message": ending.message},
        room=f"session:{session_id}",
    )
    drop_ended_logins()  # this worker's at once; the others' within a second


def ended_logins(logins: dict[str, tuple[int, str | None]]) -> set[str]:
    """Which of these sockets (sid → user id, login id) belong to a login that is no longer
    live: replaced or signed out, the user no longer allowed in, or past its lifetime."""
    from core.staff import staff_members

    users = {user_id for user_id, _login in logins.values()}
    rows = {
        row.user_id: row
        for row in db.session.scalars(select(UserAccess).where(UserAccess.user_id.in_(users)))
    }
    allowed = {m.id for m in staff_members() if m.can_log_in}
    oldest = utcnow() - dt.timedelta(seconds=float(current_app.config["SESSION_LIFETIME"]))
    ended: set[str] = set()
    for sid, (user_id, login_id) in logins.items():
        row = rows.get(user_id)
        live = (
            row is not None
            and login_id is not None
            and row.session_id == login_id
            and user_id in allowed
            and (row.session_started_at is None or row.session_started_at >= oldest)
        )
        if not live:
            ended.add(sid)
    return ended


def idle_logins(logins: dict[str, tuple[int, str | None]]) -> set[str]:
    """Which of these sockets belong to a login with no activity for the idle timeout (as
    the server saw it, a little later than the page's own clock): a socket alone never
    keeps a login alive. The login itself ends at its next request, which says why."""
    config = current_app.config
    allowance = float(config["SESSION_IDLE_TIMEOUT"]) + idle_allowance(current_app)
    quiet_since = utcnow() - dt.timedelta(seconds=allowance)
    users = {user_id for user_id, _login in logins.values()}
    idle_users = set(
        db.session.scalars(
            select(UserAccess.user_id).where(
                UserAccess.user_id.in_(users), UserAccess.last_active_at < quiet_since
            )
        )
    )
    return {sid for sid, (user_id, _login) in logins.items() if user_id in idle_users}


# --- activity, as the server saw it ----------------------------------------------------------

ACTIVITY = "backoffice.staff_activity"


class StaffActivity:
    """Each user's last activity seen by this worker, written to the database in batches
    (at most every ``STAFF_ACTIVITY_FLUSH`` seconds) so that a request never writes it."""

    def __init__(self) -> None:
        self._pending: dict[int, dt.datetime] = {}
        self._flushed_at = 0.0

    def note(self, user_id: int) -> None:
        self._pending[user_id] = utcnow()

    def flush(self, every: float) -> int:
        """Write what is pending if ``every`` seconds have passed; one statement, committed."""
        now = _now()
        if not self._pending or now - self._flushed_at < every:
            return 0
        pending, self._pending = self._pending, {}
        self._flushed_at = now
        rows = [{"uid": user_id, "at": at} for user_id, at in pending.items()]
        table = UserAccess.__table__
        seen = table.c.last_active_at
        statement = (
            update(table)
            .where(table.c.user_id == sa_bind("uid"), seen.is_(None) | (seen < sa_bind("at")))
            .values(last_active_at=sa_bind("at"))
        )
        try:
            db.session.execute(statement, rows)
            db.session.commit()
        except Exception:
            db.session.rollback()
            for user_id, at in pending.items():  # kept for the next try
                self._pending.setdefault(user_id, at)
            raise
        return len(rows)


def init_activity(app: Flask) -> None:
    app.extensions[ACTIVITY] = StaffActivity()


def staff_activity(app: Flask) -> StaffActivity:
    found: StaffActivity = app.extensions[ACTIVITY]
    return found


def idle_allowance(app: Flask) -> float:
    """How much later than the page the server may see a login as idle: its batching."""
    return float(app.config["STAFF_ACTIVITY_FLUSH"]) + 5.0


def _now() -> float:
    return dt.datetime.now(dt.UTC).timestamp()


def session_problem(user: Any, *, touch: bool, timers: bool = True) -> Ending | None:
    """Check the logged-in user's session; ``touch`` counts this request as activity.

    ``timers=False`` skips the idle and lifetime checks (Socket.IO keeps a copy of the
    session from connect time, so its timestamps are stale).
    """
    row = db.session.get(UserAccess, user.id)
    sid = session.get(SESSION_ID)
    if row is None or sid is None or row.session_id != sid:
        return SIGNED_IN_ELSEWHERE if row is not None and row.session_id else SESSION_REVOKED
    if refusal(user) is not None:
        return SESSION_REVOKED
    if not timers:
        return None
    now = _now()
    config = current_app.config
    if now - float(session.get(LOGIN_AT, now)) > config["SESSION_LIFETIME"]:
        return EXPIRED
    if now - float(session.get(LAST_SEEN, now)) > config["SESSION_IDLE_TIMEOUT"]:
        return IDLE
    if touch:
        session[LAST_SEEN] = now
        staff_activity(current_app).note(user.id)
    return None


def idle_left() -> float:
    """Seconds before this session's idle logoff (checked by ``session_problem`` first)."""
    last = float(session.get(LAST_SEEN, _now()))
    return max(0.0, last + float(current_app.config["SESSION_IDLE_TIMEOUT"]) - _now())


def forget_session() -> None:
    for key in (SESSION_ID, LOGIN_AT, LAST_SEEN):
        session.pop(key, None)


def users_with_rule_states() -> list[tuple[Any, list[tuple[GroupRule, bool]]]]:
    """Every role with each rule's state, for the Group Rules page."""
    sm = current_app.extensions["appbuilder"].sm
    rules = all_rules()
    roles = db.session.scalars(select(sm.role_model).order_by(sm.role_model.name)).all()
    return [(role, [(rule, rule_enabled(role, rule)) for rule in rules]) for role in roles]
