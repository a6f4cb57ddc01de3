"""The Patient Portal's pages: the patients' (sign-in, home) and the staff's (in the dock)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_appbuilder import BaseView, expose, has_access
from flask_login import current_user

from core.api import (
    MAX_ID,
    Client,
    audit,
    db_session,
    emit_domain_event,
    portal_activity,
    portal_client,
    portal_required,
    portal_sections,
    practice_timezone,
    public_route,
    setting,
)
from plugins.portal import service
from plugins.portal.models import PortalSession, utcnow
from plugins.portal.service import SOURCE, PortalError

BLUEPRINT = "portal"
CHALLENGE_COOKIE = "bo_portal_challenge"
TOUCH_EVERY = dt.timedelta(seconds=60)

pages = Blueprint(BLUEPRINT, __name__)


def local(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    zone = practice_timezone()
    return moment.replace(tzinfo=dt.UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _cookie_name() -> str:
    return str(current_app.config["PORTAL_COOKIE_NAME"])


def _practice() -> str:
    return str(current_app.config.get("PRACTICE_NAME", ""))


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, practice_name=_practice(), **context), status


# --- how core.api finds the signed-in client --------------------------------------------------


class PortalProvider:
    """Registered as ``app.extensions[core.api.PORTAL_EXTENSION]`` (see ``backoffice_startup``)."""

    name = "portal"

    def client(self) -> Client | None:
        row = service.session_for(request.cookies.get(_cookie_name()))
        if row is None:
            return None
        g.portal_session = row
        return row.client

    def sign_in_url(self, next_path: str | None) -> str:
        return url_for(f"{BLUEPRINT}.sign_in", next=service.safe_next(next_path))

    def link(self, client_id: int, next_path: str | None) -> str:
        return service.make_link(client_id, next_path)


def touch_session(response: Response) -> Response:
    """Keep an active patient's session alive: its idle clock restarts at most once a
    minute (a small write of its own, after the page's work)."""
    row: PortalSession | None = g.get("portal_session")
    if row is None or response.status_code >= 400 or row.ended_at is not None:
        return response
    now = utcnow()
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        db_session().commit()
    return response


def _signed_in(response: Response, token: str) -> Response:
    response.set_cookie(
        _cookie_name(),
        token,
        max_age=int(setting("PORTAL_SESSION_MAX_MINUTES")) * 60,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )
    response.delete_cookie(CHALLENGE_COOKIE, path="/portal/")
    response.headers["Cache-Control"] = "no-store"
    return response


def _announce_sign_in(client: Client, method: str) -> None:
    emit_domain_event("portal.signed_in", {"client_id": client.id, "method": method}, source=SOURCE)


# --- the patients' pages ----------------------------------------------------------------------

SIGN_IN = "signing in to the patient portal: no account, a one-time code or a signed link"
SIGNED_IN = "the patient portal; the patient's portal session is the key"


@pages.route("/portal/", methods=["GET"])
@public_route(SIGNED_IN)
@portal_required
def home() -> Any:
    client = portal_client()
    return _page("portal/home.html", client=client, sections=portal_sections())


@pages.route("/portal/sign-in", methods=["GET"])
@public_route(SIGN_IN)
def sign_in() -> Any:
    if portal_client() is not None:
        return redirect(service.safe_next(request.args.get("next")) or url_for(".home"))
    return _page("portal/sign_in.html", next=service.safe_next(request.args.get("next")))


@pages.route("/portal/sign-in", methods=["POST"])
@public_route(SIGN_IN)
def send_code() -> Any:
    address = str(request.form.get("address") or "")
    next_path = service.safe_next(request.form.get("next"))
    try:
        challenge = service.request_code(address)
    except PortalError as exc:
        db_session().rollback()
        return _page(
            "portal/sign_in.html", exc.status, error=exc.message, address=address, next=next_path
        )
    response = redirect(url_for(".code", next=next_path), 303)
    response.set_cookie(
        CHALLENGE_COOKIE,
        challenge,
        max_age=int(setting("PORTAL_CODE_MINUTES")) * 60,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        path="/portal/",
    )
    return response


@pages.route("/portal/code", methods=["GET"])
@public_route(SIGN_IN)
def code() -> Any:
    if not request.cookies.get(CHALLENGE_COOKIE):
        return redirect(url_for(".sign_in", next=service.safe_next(request.args.get("next"))))
    return _page("portal/code.html", next=service.safe_next(request.args.get("next")))


@pages.route("/portal/code", methods=["POST"])
@public_route(SIGN_IN)
def check_code() -> Any:
    next_path = service.safe_next(request.form.get("next"))
    try:
        client, token = service.verify_code(
            str(request.cookies.get(CHALLENGE_COOKIE) or ""), str(request.form.get("code") or "")
        )
    except PortalError as exc:
        db_session().rollback()
        return _page("portal/code.html", exc.status, error=exc.message, next=next_path)
    db_session().commit()
    _announce_sign_in(client, "code")
    return _signed_in(redirect(next_path or url_for(".home"), 303), token)


@pages.route("/portal/link/<token>", methods=["GET"])
@public_route("a signed, expiring sign-in link the practice sent the client")
def link(token: str) -> Any:
    try:
        client, next_path = service.read_link(token)
    except PortalError as exc:
        return _page("portal/sign_in.html", exc.status, error=exc.message)
    session_token = service.start_session(client, "link")
    db_session().commit()
    _announce_sign_in(client, "link")
    return _signed_in(redirect(next_path or url_for(".home"), 303), session_token)


@pages.route("/portal/sign-out", methods=["POST"])
@public_route(SIGNED_IN)
def sign_out() -> Any:
    if portal_client() is not None:
        service.end_session(g.portal_session, "signed_out")
        db_session().commit()
    g.pop("portal_session", None)
    response = redirect(url_for(".sign_in"), 303)
    response.delete_cookie(_cookie_name())
    return response


# --- the staff's page, opened in the dock -----------------------------------------------------


def _is_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= MAX_ID


class PortalAccessView(BaseView):
    """Find a client, see their portal activity, resend access, revoke sessions."""

    route_base = "/portal-admin"
    default_view = "index"
    class_permission_name = "PatientPortal"
    method_permission_name = {
        "index": "read",
        "client": "read",
        "resend": "manage",
        "revoke": "manage",
    }
    base_permissions = ["can_read", "can_manage"]

    def _render(self, template: str, status: int = 200, **context: Any) -> Any:
        in_dock = request.values.get("dock") == "1"
        return self.render_template(
            template,
            in_dock=in_dock,
            dock_arg={"dock": "1"} if in_dock else {},
            local=local,
            **context,
        ), status

    @expose("/")
    @has_access
    def index(self) -> Any:
        query = " ".join(str(request.args.get("q") or "").split())[:200]
        clients = service.find_clients(query) if query else []
        if query:
            audit(
                "portal.clients_searched",
                details={"found": [c.id for c in clients]},
                source=SOURCE,
            )
            db_session().commit()
        return self._render("portal/staff.html", query=query, clients=clients)

    @expose("/clients/<int:pk>")
    @has_access
    def client(self, pk: int) -> Any:
        client = self._client(pk)
        sessions, codes = service.activity(client.id)
        audit("portal.activity_viewed", target=f"client:{client.id}", source=SOURCE)
        db_session().commit()
        return self._render(
            "portal/staff_client.html",
            client=client,
            sessions=sessions,
            codes=codes,
            others=portal_activity(client.id),
            now=utcnow(),
            idle=dt.timedelta(minutes=int(setting("PORTAL_SESSION_IDLE_MINUTES"))),
        )

    @expose("/clients/<int:pk>/resend", methods=["POST"])
    @has_access
    def resend(self, pk: int) -> Any:
        client = self._client(pk)
        try:
            message = service.send_access(client, str(request.form.get("channel") or ""))
        except PortalError as exc:
            db_session().rollback()
            flash(exc.message, "danger")
            return self._back(client, 303)
        db_session().commit()
        if message.status == "failed":
            flash(f"The sign-in link could not be sent: {message.error}", "danger")
        else:
            flash(f"A sign-in link was sent to {client.full_name} ({message.status}).", "success")
        return self._back(client, 303)

    @expose("/clients/<int:pk>/revoke", methods=["POST"])
    @has_access
    def revoke(self, pk: int) -> Any:
        client = self._client(pk)
        ended = service.revoke_access(client, by=str(current_user.username))
        db_session().commit()
        flash(
            f"Portal access of {client.full_name} revoked: {ended} session(s) ended, "
            "earlier sign-in links withdrawn.",
            "success",
        )
        return self._back(client, 303)

    def _client(self, pk: int) -> Client:
        client = db_session().get(Client, pk)
        if client is None:
            abort(404)
        return client

    def _back(self, client: Client, status: int) -> Any:
        in_dock = request.values.get("dock") == "1"
        return redirect(
            url_for("PortalAccessView.client", pk=client.id, **({"dock": "1"} if in_dock else {})),
            status,
        )
