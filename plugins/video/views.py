"""Pages of the Video plugin: the staff call page, the patient and guest pages, the list."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_login import current_user
from sqlalchemy import select

from core.api import (
    MAX_ID,
    Client,
    audit,
    db_session,
    new_patient_token,
    practice_timezone,
    public_route,
    resolve_invite,
    revoke_invite,
    setting,
    verify_patient_token,
)
from plugins.video import service
from plugins.video.models import (
    ADHOC,
    ENDED,
    MAX_CHAT,
    VideoSession,
    waiting_room_reference,
)

CALL = "VideoCall"  # the call page and its Socket.IO events: can_join, can_start
LIST = "VideoSession"  # the list of sessions, for reporting: can_list, can_show
BLUEPRINT = "video_patient"
# Where a session comes from, e.g. "appointment:12" from the calendar (one open session each).
REFERENCE = re.compile(r"[a-z][a-z_]{0,40}:[0-9]{1,12}")
MAX_GUEST_NAME = 80
CLIENT_CHOICES = 500

BAD_LINK = "This session link is not valid or has expired. Ask your clinician for a new one."
USED_LINK = "This invitation has already been used or has expired. Ask the clinician for a new one."


def practice_minute(value: dt.datetime | None) -> str:
    """A naive UTC time in the practice's zone, to the minute, e.g. ``2026-12-04 09:15 EST``."""
    if value is None:
        return ""
    local = value.replace(tzinfo=dt.UTC).astimezone(practice_timezone())
    return local.strftime("%Y-%m-%d %H:%M %Z")


class VideoSessionView(ModelView):
    """Every video session, for reporting: when, how long, who took part. Read-only."""

    route_base = "/video/sessions"
    datamodel = SQLAInterface(VideoSession)
    class_permission_name = LIST
    base_permissions = ["can_list", "can_show"]
    base_order = ("created_at", "desc")
    list_title = "Video sessions"
    show_title = "Video session"
    list_columns = [
        "created_at",
        "provider",
        "client_name",
        "status",
        "started_at",
        "ended_at",
        "duration_text",
        "participant_names",
    ]
    show_columns = [
        "id",
        "reference",
        "provider",
        "client_name",
        "status",
        "created_at",
        "started_at",
        "ended_at",
        "duration_seconds",
        "participant_names",
    ]
    search_columns = ["status", "provider", "client", "started_at", "ended_at"]
    formatters_columns = {
        "created_at": practice_minute,
        "started_at": practice_minute,
        "ended_at": practice_minute,
    }
    label_columns = {
        "id": "Session",
        "reference": "From",
        "created_at": "Created",
        "provider": "Clinician",
        "client": "Client",
        "client_name": "Client",
        "status": "Status",
        "started_at": "Started",
        "ended_at": "Ended",
        "duration_text": "Duration",
        "duration_seconds": "Duration (seconds)",
        "participant_names": "Participants",
    }


class VideoCallView(BaseView):
    """The clinician's side of a call, and starting one."""

    route_base = "/video"
    default_view = "new"
    class_permission_name = CALL
    method_permission_name = {"new": "start", "entry": "join", "session": "join"}
    base_permissions = ["can_start", "can_join"]

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self) -> Any:
        """A session for a client outside the waiting room (for the calendar and tests)."""
        if request.method == "POST":
            client_id = _client_id(request.form.get("client_id"))
            if client_id is False:
                return self._new_page(error="Choose a client from the list."), 400
            reference = str(request.form.get("reference") or ADHOC).strip()
            if reference != ADHOC and not REFERENCE.fullmatch(reference):
                return self._new_page(error="That reference is not valid."), 400
            session = service.open_session_for_reference(reference) if reference != ADHOC else None
            if session is None:
                session = service.create_session(
                    provider_id=int(current_user.id),
                    reference=reference,
                    client_id=client_id or None,
                    via="new",
                )
            return redirect(url_for("VideoCallView.session", pk=session.id))
        return self._new_page()

    def _new_page(self, error: str | None = None) -> Any:
        clients = db_session().scalars(
            select(Client).order_by(Client.last_name, Client.first_name).limit(CLIENT_CHOICES)
        )
        mine = db_session().scalars(
            select(VideoSession)
            .where(VideoSession.provider_id == current_user.id, VideoSession.status != ENDED)
            .order_by(VideoSession.id.desc())
            .limit(20)
        )
        return self.render_template(
            "video/new.html",
            clients=list(clients),
            open_sessions=list(mine),
            error=error,
            selected=request.values.get("client_id", ""),
            reference=request.values.get("reference", ""),
        )

    @expose("/entry/<int:pk>")
    @has_access
    def entry(self, pk: int) -> Any:
        """ "Open session" from the waiting room: the entry's session, made when missing."""
        session = service.current_session_of_entry(pk)
        if session is None:
            session = service.create_session(
                provider_id=int(current_user.id),
                reference=waiting_room_reference(pk),
                via="entry",
            )
        target = url_for("VideoCallView.session", pk=session.id)
        if request.args.get("compact"):
            target += "?compact=1"
        return redirect(target)

    @expose("/session/<int:pk>")
    @has_access
    def session(self, pk: int) -> Any:
        session = service.get_session(pk)
        if session is None:
            return self._no_such_session()
        audit("video.session_viewed", target=service.target(session), source=service.SOURCE)
        service.commit()
        return self.render_template(
            "video/call.html",
            session=session,
            me=service.staff_who(int(current_user.id)),
            compact=bool(request.args.get("compact")),
            max_chat=MAX_CHAT,
            index_url=self.appbuilder.get_url_for_index,
        )

    def _no_such_session(self) -> Any:
        return self.render_template(
            "video/staff_message.html",
            title="No such video session",
            message="This video session does not exist. It may have been typed wrongly.",
        ), 404


def _client_id(raw: str | None) -> int | None | bool:
    """``None`` for no client, the id of an existing client, or ``False`` when invalid."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ID:
        return False  # "²" is a digit to isdigit(), and a huge number names no client
    client_id = int(text)
    return client_id if db_session().get(Client, client_id) is not None else False


# --- patients and guests: no account, a link ------------------------------------------------


def _message(title: str, message: str, status: int, *, refresh: int | None = None) -> Any:
    page = render_template(
        "video/message.html",
        title=title,
        message=message,
        refresh=refresh,
        practice_name=setting("PRACTICE_NAME"),
    )
    return page, status, {"Cache-Control": "no-store"}


def _not_found(message: str = BAD_LINK) -> Any:
    return _message("We could not open this session", message, 404)


def _guest_session(token: str) -> tuple[Any, VideoSession] | None:
    invite = resolve_invite(token, commit=False)
    if invite is None or invite.kind != "guest":
        return None
    reference = str(invite.reference or "")
    if not reference.startswith("video:") or not reference[6:].isdigit():
        return None
    session = service.get_session(int(reference[6:]))
    if session is None or session.status == ENDED:
        return None
    return invite, session


def patient_blueprint() -> Blueprint:
    pages = Blueprint(BLUEPRINT, __name__)

    @public_route("the patient's side of a video session; the signed patient token is the key")
    def patient(token: str) -> Any:
        claims = verify_patient_token(token)
        if claims is None:
            return _not_found()
        session = service.session_for_claims(claims)
        if session is None:
            if "entry" in claims:
                return _message(
                    "Your clinician is getting ready",
                    "The session has not been opened yet. This page checks again by itself.",
                    200,
                    refresh=5,
                )
            return _not_found()
        if session.status == ENDED:
            return _message(
                "This session has ended", "Thank you. You can close this window now.", 410
            )
        who = service.patient_who(claims, session)
        return (
            render_template(
                "video/patient.html",
                session=session,
                token=token,
                me=who,
                max_chat=MAX_CHAT,
                practice_name=setting("PRACTICE_NAME"),
                provider_name=service.user_name(session.provider_id),
            ),
            200,
            {"Cache-Control": "no-store"},
        )

    @public_route("a one-time guest invitation to a video session; the invite token is the key")
    def guest(token: str) -> Any:
        response = _guest_page(token)
        service.commit()  # the link's last use; on arrival also its revocation and audit rows
        return response

    pages.add_url_rule("/video/p/<token>", "patient", patient, methods=["GET"])
    pages.add_url_rule("/video/g/<token>", "guest", guest, methods=["GET", "POST"])
    return pages


def _guest_page(token: str) -> Any:
    """The guest's name form; a valid name spends the invite (the caller commits)."""
    found = _guest_session(token)
    if found is None:
        return _not_found(USED_LINK)
    invite, session = found
    error = None
    name = ""
    if request.method == "POST":
        name = " ".join(str(request.form.get("name") or "").split())
        if not name:
            error = "Please enter your name."
        elif len(name) > MAX_GUEST_NAME:
            error = f"Please use at most {MAX_GUEST_NAME} characters."
        else:
            revoke_invite(invite.id, source=service.SOURCE, commit=False)  # one use only
            patient_token = new_patient_token(video_session=session.id, guest=True, name=name)
            audit(
                "video.guest_arrived",
                target=service.target(session),
                details={"invite_id": invite.id},
                source=service.SOURCE,
            )
            return redirect(url_for(f"{BLUEPRINT}.patient", token=patient_token))
    return (
        render_template(
            "video/guest.html",
            error=error,
            name=name,
            max_name=MAX_GUEST_NAME,
            practice_name=setting("PRACTICE_NAME"),
            provider_name=service.user_name(session.provider_id),
        ),
        (400 if error else 200),
        {"Cache-Control": "no-store"},
    )
