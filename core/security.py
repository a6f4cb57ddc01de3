"""The host's security: the login gate, single sessions, idle logoff and security pages."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import secrets
from dataclasses import dataclass
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    request,
    url_for,
)
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.api import BaseApi
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.security.forms import LoginForm_db
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import AuthDBView, RoleModelView, UserDBModelView
from flask_appbuilder.urltools import get_filter_args
from flask_appbuilder.utils.base import get_safe_redirect
from flask_login import current_user, login_user, logout_user
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from werkzeug.security import check_password_hash

from core import access, audit
from core.database import db
from core.inputs import fab_view
from core.models import AuditEntry, utcnow
from core.openapi import ErrorSchema, KeepaliveSchema, SessionStatusSchema, json_route
from core.permissions import RequestPermissionCache
from core.ratelimit import (
    check_limit,
    clear_limit,
    limit_reached,
    limit_resets_at,
    within_limit,
)
from core.views import SwitchboardView

# --- account lockout ---------------------------------------------------------------------

#: The counter of failed sign-ins per account (the per-address limit is Flask-Limiter's).
LOCK_SCOPE = "login.account"
LOCKED_MESSAGE = (
    "This account is locked after too many failed sign-ins. Try again in {minutes} "
    "minute(s), or ask a security admin to unlock it (Security \u2192 Locked Accounts)."
)


def account_key(username: str) -> str:
    """Usernames are matched case-insensitively (FAB's AUTH_USERNAME_CI): so are locks."""
    return username.strip().lower()


def _account_limit() -> str:
    return str(current_app.config["AUTH_ACCOUNT_RATE_LIMIT"])


def _could_be_an_account(key: str) -> bool:
    # Longer names cannot exist: counting them would only fill the storage.
    sm = current_app.extensions["appbuilder"].sm
    return bool(key) and len(key) <= sm.user_model.username.type.length


def account_locked(username: str) -> bool:
    key = account_key(username)
    return _could_be_an_account(key) and limit_reached(_account_limit(), LOCK_SCOPE, key)


def count_failed_login(username: str) -> None:
    """One more failed sign-in for the account; the one that uses up its allowance is
    audited as the lockout."""
    key = account_key(username)
    if not _could_be_an_account(key):
        return
    limit = _account_limit()
    within_limit(limit, LOCK_SCOPE, key)
    if limit_reached(limit, LOCK_SCOPE, key):
        until = dt.datetime.fromtimestamp(limit_resets_at(limit, LOCK_SCOPE, key), dt.UTC)
        audit.record(
            "auth.account_locked",
            target=key,
            details={"limit": limit, "until": until.isoformat(timespec="seconds")},
            actor=username,
        )


def locked_message(username: str) -> str:
    key = account_key(username)
    left = limit_resets_at(_account_limit(), LOCK_SCOPE, key) - dt.datetime.now(dt.UTC).timestamp()
    return LOCKED_MESSAGE.format(minutes=max(1, -(-int(left) // 60)))


@dataclass(frozen=True)
class LockedAccount:
    name: str
    until: dt.datetime
    user: Any  # the FAB user, or None: someone guessed a name that is no account


def locked_accounts() -> list[LockedAccount]:
    """Accounts locked now: those whose lockout was audited within one window and whose
    counter is still full (the counters cannot be listed; the audit log can)."""
    limit = _account_limit()
    since = utcnow() - dt.timedelta(seconds=check_limit(limit).get_expiry())
    names = db.session.scalars(
        select(AuditEntry.target)
        .where(AuditEntry.action == "auth.account_locked", AuditEntry.at >= since)
        .distinct()
    ).all()
    sm = current_app.extensions["appbuilder"].sm
    return [
        LockedAccount(
            name=name,
            until=dt.datetime.fromtimestamp(limit_resets_at(limit, LOCK_SCOPE, name), dt.UTC),
            user=sm.find_user(username=name),
        )
        for name in sorted({n for n in names if n})
        if account_locked(name)
    ]


def unlock_account(username: str) -> bool:
    """Forget the account's failed sign-ins; false when it was not locked."""
    key = account_key(username)
    if not account_locked(key):
        return False
    clear_limit(_account_limit(), LOCK_SCOPE, key)
    audit.record("auth.account_unlocked", target=key)
    return True


# --- login and logout ------------------------------------------------------------


class BackOfficeAuthDBView(AuthDBView):
    """FAB's database login, plus the telehealth gate, single sessions and auditing."""

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self) -> Any:
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm_db()
        if form.validate_on_submit():
            return self._sign_in((form.username.data or "").strip(), form.password.data or "")
        return self.render_template(
            self.login_template, title=self.title, form=form, appbuilder=self.appbuilder
        )

    def _sign_in(self, username: str, password: str) -> Any:
        next_url = get_safe_redirect(request.args.get("next", ""))
        back = redirect(self.appbuilder.get_url_for_login_with(next_url))
        if account_locked(username):
            # Refused before the password is checked: a lock is no password oracle.
            details = {"reason": "locked"}
            audit.record("auth.login_refused", target=username, details=details, actor=username)
            flash(locked_message(username), "warning")
            return back
        user, reason = self._authenticate(username, password)
        if user is None or reason is not None:
            action = "auth.login_refused" if user is not None else "auth.login_failed"
            audit.record(action, target=username, details={"reason": reason}, actor=username)
            if user is None:
                count_failed_login(username)
            flash(reason or str(self.invalid_login_message), "warning")
            return back
        clear_limit(_account_limit(), LOCK_SCOPE, account_key(username))
        login_user(user, remember=False)
        access.start_session(user)
        audit.record("auth.login", target=username, actor=username)
        return redirect(next_url)

    def _authenticate(self, username: str, password: str) -> tuple[Any, str | None]:
        sm = self.appbuilder.sm
        user = SecurityManager.auth_user_db(sm, username, password)  # without the gate: say why
        if user is None:
            # FAB hides disabled accounts; say why, but only to someone who knows the password.
            found = sm.find_user(username=username)
            if (
                found is not None
                and not found.is_active
                and found.password
                and check_password_hash(found.password, password)
            ):
                return found, access.refusal(found)
            return None, None
        return user, access.refusal(user)

    @expose("/logout/")
    def logout(self) -> Any:
        user = self._get_authenticated_user()
        if user is not None:
            audit.record("auth.logout", target=user.username, actor=user.username)
            access.end_sessions(user.id, access.Ending("logout", "You signed out."))
        access.forget_session()
        logout_user()
        return redirect(self.appbuilder.get_url_for_login)


class AuditedUserView(UserDBModelView):
    """FAB's user admin; deactivating a user ends their live session at once."""

    class_permission_name = "UserDBModelView"  # keep FAB's permission name

    def post_add(self, item: Any) -> None:
        audit.record("security.user_added", target=item.username)

    def post_update(self, item: Any) -> None:
        audit.record(
            "security.user_changed",
            target=item.username,
            details={"active": bool(item.active), "roles": [r.name for r in item.roles]},
        )
        if access.refusal(item) is not None:
            access.end_sessions(item.id, access.SESSION_REVOKED)

    def post_delete(self, item: Any) -> None:
        audit.record("security.user_deleted", target=item.username)


class AuditedRoleView(RoleModelView):
    """FAB's role admin, with every change of a role or its permissions audited."""

    class_permission_name = "RoleModelView"  # keep FAB's permission name

    def pre_update(self, item: Any) -> None:
        # The form has filled the role in already; SQLAlchemy still knows what changed.
        history = sa_inspect(item).attrs.permissions.history
        g.role_change = {
            "granted": sorted(str(p) for p in history.added or ()),
            "revoked": sorted(str(p) for p in history.deleted or ()),
        }

    def post_update(self, item: Any) -> None:
        change = g.pop("role_change", {"granted": [], "revoked": []})
        audit.record("security.role_changed", target=item.name, details=change)
        if change["revoked"]:
            # Live sockets were put in rooms by permission at connect: start them afresh.
            for member in list(item.user):
                access.end_sessions(member.id, access.PERMISSIONS_CHANGED)

    def post_add(self, item: Any) -> None:
        audit.record(
            "security.role_added",
            target=item.name,
            details={"permissions": sorted(str(p) for p in item.permissions)},
        )

    def post_delete(self, item: Any) -> None:
        audit.record("security.role_deleted", target=item.name)


class NoTokenSecurityApi(SecurityApi):
    """FAB 5 registers its JWT login and refresh (/api/v1/security/...) whatever
    FAB_ADD_SECURITY_API says. They would skip what the login form enforces (rate limits,
    lockouts, audit, one login per user), so none of their routes is exposed."""

    class_permission_name = "SecurityApi"
    include_route_methods: set[str] = set()


class BackOfficeSecurityManager(RequestPermissionCache, SecurityManager):
    authdbview = BackOfficeAuthDBView
    userdbmodelview = AuditedUserView
    rolemodelview = AuditedRoleView
    security_api = NoTokenSecurityApi
    userstatschartview = None  # a chart of login counts: not worth its attack surface

    def auth_user_db(self, username: str, password: str) -> Any:
        """FAB's check plus the telehealth gate, for every way in."""
        user = super().auth_user_db(username, password)
        return user if user is not None and access.refusal(user) is None else None

    def load_user_jwt(self, _jwt_header: Any, jwt_data: Any) -> None:
        """No JWT is ever honoured (Flask-JWT-Extended answers 401): the only way in is
        the login form, and no token issuer is exposed."""
        return None

    def register_views(self) -> None:
        super().register_views()
        self.appbuilder.add_view(
            TelehealthUsersView, "Telehealth Users", icon="fa-user-md", category="Security"
        )
        self.appbuilder.add_view(
            GroupRulesView, "Group Rules", icon="fa-toggle-on", category="Security"
        )
        self.appbuilder.add_view(AuditLogView, "Audit Log", icon="fa-history", category="Security")
        self.appbuilder.add_view(
            LockedAccountsView, "Locked Accounts", icon="fa-lock", category="Security"
        )
        self.appbuilder.add_view_no_menu(SessionView)


# --- security admin pages -----------------------------------------------------------


class TelehealthUsersView(SwitchboardView):
    """Which users are enabled for telehealth."""

    route_base = "/security/telehealth"
    class_permission_name = "TelehealthAccess"

    @expose("/")
    @has_access
    def list(self) -> Any:
        sm = self.appbuilder.sm
        users = db.session.scalars(select(sm.user_model).order_by(sm.user_model.username)).all()
        rows = [
            {
                "user": user,
                "enabled": access.telehealth_enabled(user.id),
                "why": access.refusal(user),
            }
            for user in users
        ]
        return self.render_template("backoffice/telehealth_users.html", rows=rows)

    @expose("/<int:user_id>", methods=["POST"])
    @has_access
    def switch(self, user_id: int) -> Any:
        user = self.appbuilder.sm.get_user_by_id(user_id)
        if user is None:
            flash(f"There is no user with id {user_id}.", "danger")
            return redirect(url_for("TelehealthUsersView.list")), 404
        enabled = request.form.get("enabled") == "1"
        access.set_telehealth(user, enabled)
        flash(f"Telehealth {'enabled' if enabled else 'disabled'} for {user.username}.", "success")
        return redirect(url_for("TelehealthUsersView.list"))


class GroupRulesView(SwitchboardView):
    """Group rules: named switches per role."""

    route_base = "/security/group-rules"
    class_permission_name = "GroupRules"

    @expose("/")
    @has_access
    def list(self) -> Any:
        return self.render_template(
            "backoffice/group_rules.html",
            rules=access.all_rules(),
            roles=access.users_with_rule_states(),
        )

    @expose("/switch", methods=["POST"])
    @has_access
    def switch(self) -> Any:
        sm = self.appbuilder.sm
        role = sm.find_role(request.form.get("role", ""))
        rule = next((r for r in access.all_rules() if r.name == request.form.get("rule")), None)
        if role is None or rule is None:
            flash("Unknown role or group rule.", "danger")
            return redirect(url_for("GroupRulesView.list")), 400
        enabled = request.form.get("enabled") == "1"
        access.set_rule(role, rule, enabled)
        flash(f"'{rule.name}' turned {'on' if enabled else 'off'} for {role.name}.", "success")
        return redirect(url_for("GroupRulesView.list"))


class LockedAccountsView(SwitchboardView):
    """Accounts locked by failed sign-ins, with an unlock for each."""

    route_base = "/security/locked-accounts"
    class_permission_name = "LockedAccounts"
    method_permission_name = {"list": "read", "unlock": "write"}

    @expose("/")
    @has_access
    def list(self) -> Any:
        return self.render_template(
            "backoffice/locked_accounts.html", rows=locked_accounts(), limit=_account_limit()
        )

    @expose("/unlock", methods=["POST"])
    @has_access
    def unlock(self) -> Any:
        account = request.form.get("account", "")
        if not unlock_account(account):
            flash(f"No account named {account!r} is locked.", "danger")
            return redirect(url_for("LockedAccountsView.list")), 404
        flash(f"Unlocked {account_key(account)}.", "success")
        return redirect(url_for("LockedAccountsView.list"))


class AuditLogView(ModelView):
    """The append-only audit log: search, read and export; never edit."""

    route_base = "/security/audit"
    datamodel = SQLAInterface(AuditEntry)
    class_permission_name = "AuditLog"
    method_permission_name = {"list": "read", "show": "read", "export": "read"}
    base_permissions = ["can_read"]
    base_order = ("at", "desc")
    list_columns = ["at", "actor", "action", "target", "source", "ip"]
    show_columns = ["at", "actor", "action", "target", "source", "ip", "user_agent", "details"]
    search_columns = ["at", "actor", "action", "target", "source", "ip"]
    list_template = "backoffice/audit_list.html"
    page_size = 50

    @expose("/export.csv")
    @has_access
    def export(self) -> Any:
        """The entries matching the list's current filters (same query string), as CSV."""
        get_filter_args(self._filters)
        _count, items = self.datamodel.query(self._filters, "at", "desc")
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["at", "actor", "action", "target", "source", "ip", "details"])
        for item in items:
            writer.writerow(
                [
                    item.at.isoformat(),
                    item.actor,
                    item.action,
                    item.target,
                    item.source,
                    item.ip,
                    json.dumps(item.details) if item.details is not None else "",
                ]
            )
        audit.record("security.audit_exported", details={"rows": len(items)})
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        return Response(
            buffer.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment; filename=audit-{stamp}.csv"},
        )


class SessionView(BaseView):
    """The staff page's heartbeat: keeps an active user signed in, reports time left."""

    route_base = "/session"
    base_permissions: list[str] = []

    @expose("/keepalive", methods=["POST"])
    @json_route(
        "The staff page's heartbeat: counts as activity, tells the idle timeout",
        responses={200: KeepaliveSchema, 401: ErrorSchema},
    )
    def keepalive(self) -> Any:
        if not current_user.is_authenticated:
            return jsonify(error="not signed in"), 401
        return jsonify(idle_timeout=current_app.config["SESSION_IDLE_TIMEOUT"])

    @expose("/status")
    @json_route(
        "Seconds of idleness left; never counts as activity",
        responses={200: SessionStatusSchema, 401: ErrorSchema},
    )
    def status(self) -> Any:
        """Seconds of idleness left, asked when the page's own clock runs out; never counts
        as activity (a live session here means a person is busy in another window)."""
        if not current_user.is_authenticated:
            return jsonify(error="not signed in"), 401
        return jsonify(idle_left=access.idle_left())


# --- every request ---------------------------------------------------------------------

QUIET_ENDPOINTS = {"static", "health", "appbuilder.static", "favicon", "practice_logo"}
QUIET_PREFIXES = ("plugin_static_",)  # plugins' assets
#: Requests the shell sends on its own (redraws, status checks) carry this header.
BACKGROUND_HEADER = "X-Backoffice-Background"
#: Endpoints that are never a person's action, whoever asks.
NEVER_ACTIVITY = {"SessionView.status"}
#: What a browser fetches for a person: pages, frames and the page's own fetch() calls
#: (Sec-Fetch-Dest ``empty``). Images, scripts, styles, fonts, manifests are assets.
ACTIVITY_DESTINATIONS = {"", "document", "iframe", "frame", "empty"}


def is_quiet_request() -> bool:
    """Assets and health checks: no session check at all."""
    endpoint = request.endpoint or ""
    return endpoint in QUIET_ENDPOINTS or endpoint.startswith(QUIET_PREFIXES)


def counts_as_activity() -> bool:
    """Only a person's actions renew the idle clock: a page opened, a form sent, the
    keepalive the page sends after seeing input. Unknown URLs (a 404), HEAD requests,
    prefetches, assets and the shell's own background requests never do."""
    if request.endpoint is None or request.endpoint in NEVER_ACTIVITY:
        return False
    if request.method in ("HEAD", "OPTIONS") or request.headers.get(BACKGROUND_HEADER):
        return False
    if request.headers.get("Sec-Purpose") or request.headers.get("Purpose") == "prefetch":
        return False
    return request.headers.get("Sec-Fetch-Dest", "") in ACTIVITY_DESTINATIONS


def hide_login_from_apis() -> None:
    """FAB's REST APIs are CSRF-exempt, so a login cookie must never authorize one (nor
    keep its session alive): they see an anonymous user, whatever the class says."""
    if request.blueprint and isinstance(fab_view(request.blueprint), BaseApi):
        # flask_login keeps the request's user here; the session itself is untouched.
        g._login_user = current_app.extensions["appbuilder"].sm.lm.anonymous_user()


def check_staff_session() -> Any:
    """End a staff session that was replaced, revoked, idle or too old."""
    if is_quiet_request() or not current_user.is_authenticated:
        return None
    if request.endpoint and request.endpoint.endswith(".logout"):
        return None
    ending = access.session_problem(current_user, touch=counts_as_activity())
    if ending is None:
        return None
    audit.record(
        "auth.session_ended", target=current_user.username, details={"reason": ending.code}
    )
    if ending in (access.IDLE, access.EXPIRED):  # the login ends with its sockets too
        access.end_sessions(current_user.id, ending)
    access.forget_session()
    logout_user()
    flash(ending.message, "warning")  # a JSON caller's page reloads onto the login form
    if request.accept_mimetypes.best == "application/json" or request.is_json:
        return jsonify(error=ending.message, reason=ending.code), 401
    if request.endpoint and request.endpoint.endswith(".login"):
        return None  # already on its way to the login page
    next_url = request.full_path if request.method == "GET" else None
    return redirect(current_app.extensions["appbuilder"].get_url_for_login_with(next_url))


def new_csp_nonce() -> str:
    nonce = getattr(g, "csp_nonce", None)
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return str(nonce)


def security_headers(response: Response) -> Response:
    frames = " ".join(
        sorted({_origin(url) for url in current_app.config["DOCK_SITES"].values()} - {""})
    )
    policy = [
        "default-src 'self'",
        f"script-src 'self' 'nonce-{new_csp_nonce()}'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "media-src 'self' blob:",
        "connect-src 'self' ws: wss:",
        f"frame-src 'self' {frames}".strip(),
        "frame-ancestors 'self'",
        "form-action 'self'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
    response.headers.setdefault("Content-Security-Policy", "; ".join(policy))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)"
    )
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def init_security(app: Flask) -> None:
    app.before_request(hide_login_from_apis)
    app.before_request(check_staff_session)
    app.after_request(security_headers)
    app.jinja_env.globals["csp_nonce"] = new_csp_nonce
