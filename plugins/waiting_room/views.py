"""Pages of the waiting room: the staff's live list (FAB) and the patients' pages (Flask).

Patients have no account. They come in through an invite link (``/join/<token>``, made by
``core.api.create_invite``) or the practice's external link (``/wait/<code>``); checking
in gives them a patient token, which their page keeps in ``localStorage`` so that a
refresh or a return within the grace period finds the same entry and the same place.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_appbuilder import BaseView, expose, has_access
from marshmallow import Schema, ValidationError, fields, validate

from core.api import (
    MAX_ID,
    ErrorSchema,
    PatientInvite,
    db_session,
    join_code,
    json_route,
    practice_logo_url,
    public_route,
    rate_limited,
    resolve_invite,
    setting,
    verify_patient_token,
    within_rate_limit,
)
from plugins.waiting_room import room
from plugins.waiting_room.models import WaitingEntry
from plugins.waiting_room.schemas import ArrivalSchema, AwaySchema, JoinErrorSchema

BLUEPRINT = "waiting_room_patient"
NAME_MAX = 120


class WaitingRoomView(BaseView):
    """The live waiting room: who waits, for whom, since when; admit, message, transfer."""

    route_base = "/waiting-room"
    default_view = "live"
    class_permission_name = "WaitingRoom"
    method_permission_name = {"live": "show"}
    # can_manage guards the actions (Socket.IO events); the page itself needs can_show.
    base_permissions = ["can_show", "can_manage"]

    @expose("/")
    @has_access
    def live(self) -> Any:
        return self.render_template(
            "waiting_room/dashboard.html",
            session_url_configured=bool(current_app.config["WAITING_ROOM_SESSION_URL"]),
            join_link=url_for(
                f"{BLUEPRINT}.external", code=room.external_codes()[0], _external=True
            ),
        )


# --- patients ----------------------------------------------------------------------------


class JoinSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=NAME_MAX))
    date_of_birth = fields.Date(load_default=None, allow_none=True)
    provider_id = fields.Integer(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=MAX_ID)
    )


def _wrong_code() -> Any:
    """A code that opens nothing; guessing codes from one address is slowed down."""
    limit = str(current_app.config["WAITING_ROOM_CODE_RATE_LIMIT"])
    if not within_rate_limit(limit, "waiting_room.code", request.remote_addr or "unknown"):
        page, _status = _not_found(TOO_MANY_CODES)
        return page, 429
    return _not_found(BAD_CODE)


def _not_found(message: str) -> tuple[str, int]:
    page = render_template(
        "waiting_room/not_found.html", message=message, **_practice(), title="Link not valid"
    )
    return page, 404


def _practice() -> dict[str, Any]:
    return {
        "practice_name": setting("PRACTICE_NAME"),
        "logo_url": setting("WAITING_ROOM_LOGO_URL") or practice_logo_url(),
        "waiting_message": setting("WAITING_ROOM_MESSAGE"),
    }


def _replaced_code() -> tuple[str, int]:
    """A code the practice replaced and whose grace period is over."""
    page = render_template(
        "waiting_room/not_found.html", message=REPLACED_CODE, **_practice(), title="Link replaced"
    )
    return page, 410


BAD_LINK = (
    "This waiting-room link is not valid any more. It may have expired or been replaced. "
    "Please use the newest link the practice sent you, or call the practice."
)
BAD_CODE = (
    "We could not find a practice with that code. Check the link on the practice's "
    "website, or call the practice."
)
TOO_MANY_CODES = (
    "Too many codes were tried from this connection. Wait a minute, then check the code "
    "on the practice's website, or call the practice."
)
REPLACED_CODE = (
    "This waiting-room link has been replaced by the practice. Please contact the practice "
    "for its new link."
)
TOO_MANY_CHECK_INS = "Too many check-ins from this address; wait a minute and try again."


def _join_page(
    *,
    invite: PatientInvite | None,
    code: str | None,
    enter_url: str,
    provider_id: int | None = None,
) -> str:
    config = current_app.config
    choices: list[dict[str, Any]] = []
    if invite is None and provider_id is None and setting("WAITING_ROOM_EXTERNAL_CHOOSE_PROVIDER"):
        choices = [{"id": c.id, "name": c.name} for c in room.clinicians()]
    key = f"invite-{invite.id}" if invite is not None else f"code-{code}"
    return render_template(
        "waiting_room/join.html",
        **_practice(),
        title="Waiting room",
        invite_kind=invite.kind if invite is not None else "external",
        storage_key=f"waiting_room:{key}",
        enter_url=enter_url,
        away_url=url_for(f"{BLUEPRINT}.away"),
        ping_url=url_for(f"{BLUEPRINT}.ping"),
        ask_dob=bool(setting("WAITING_ROOM_ASK_DOB")),
        providers=choices,
        heartbeat=float(config["WAITING_ROOM_HEARTBEAT"]),
    )


JOIN_SCHEMA = JoinSchema()


def _enter(invite: PatientInvite | None, code: str | None, code_provider: int | None = None) -> Any:
    try:
        data = JOIN_SCHEMA.load(request.get_json(silent=True) or {})
    except ValidationError as exc:
        return jsonify(error="Please check the form.", fields=exc.messages), 400
    name = " ".join(str(data["name"]).split())
    if not name:
        return jsonify(error="Please enter your name.", fields={"name": ["required"]}), 400
    born: dt.date | None = data["date_of_birth"]
    if setting("WAITING_ROOM_ASK_DOB") and born is None:
        return jsonify(
            error="Please enter your date of birth.", fields={"date_of_birth": ["required"]}
        ), 400
    if born is not None and not dt.date(1900, 1, 1) <= born <= dt.date.today():
        return jsonify(
            error="Please check your date of birth.", fields={"date_of_birth": ["invalid"]}
        ), 400
    provider_id = data["provider_id"]
    if provider_id is not None and (invite is not None or not room.is_provider(provider_id)):
        provider_id = None
    if code_provider is not None:  # a provider's own link: their room, whatever was sent
        provider_id = code_provider
    arrival = room.join(
        invite=invite, name=name, date_of_birth=born, code=code, provider_id=provider_id
    )
    return jsonify(token=arrival.token, entry_id=arrival.entry.id, created=arrival.created), (
        201 if arrival.created else 200
    )


CHECK_IN = {
    200: ArrivalSchema,
    201: ArrivalSchema,
    400: JoinErrorSchema,
    404: ErrorSchema,
    429: ErrorSchema,
}


def _ping() -> Response:
    return Response(status=204, headers={"Cache-Control": "no-store"})


def patient_blueprint() -> Blueprint:
    """The pages of patients, who have no account: their links are the credentials."""
    pages = Blueprint(BLUEPRINT, __name__)

    @public_route("the patient's invite link; the unguessable token is the credential")
    def join(token: str) -> Any:
        invite = resolve_invite(token)
        if invite is None:
            return _not_found(BAD_LINK)
        return _join_page(
            invite=invite, code=None, enter_url=url_for(f"{BLUEPRINT}.join_enter", token=token)
        )

    @json_route(
        "Check a patient in with their invite link; the answer's token opens their socket",
        body=JoinSchema,
        responses=CHECK_IN,
    )
    @public_route("checks a patient in with their invite link's token")
    def join_enter(token: str) -> Any:
        invite = resolve_invite(token)
        if invite is None:
            return jsonify(error=BAD_LINK), 404
        return _enter(invite, None)

    @public_route("asks for the practice's external join code")
    def code_form() -> Any:
        code = (request.args.get("code") or "").strip()
        if code:
            return redirect(url_for(f"{BLUEPRINT}.external", code=code))
        return render_template("waiting_room/code.html", **_practice(), title="Waiting room")

    @public_route("the practice's external join link, published on its website")
    def external(code: str) -> Any:
        match = join_code(code)
        if match is None:
            return _wrong_code()
        if match.state == "retired":
            return _replaced_code()
        return _join_page(
            invite=None,
            code=code,
            enter_url=url_for(f"{BLUEPRINT}.external_enter", code=code),
            provider_id=match.provider_id,
        )

    @json_route(
        "Check a patient in through the practice's external join code",
        body=JoinSchema,
        responses=CHECK_IN,
    )
    @public_route("checks a patient in through the practice's external join link")
    def external_enter(code: str) -> Any:
        match = join_code(code)
        if match is None:
            return jsonify(error=BAD_CODE), 404
        if match.state == "retired":
            return jsonify(error=REPLACED_CODE), 410
        return _enter(None, code, match.provider_id)

    @json_route(
        "The patient's page is closing (sendBeacon): shown away at once",
        form=AwaySchema,
        responses={204: None, 400: ErrorSchema},
    )
    @public_route("a patient page closing; the patient token in the body is the credential")
    def away() -> Any:
        claims = verify_patient_token(str(request.form.get("token") or ""))
        entry_id = room.entry_id_of(claims)
        if entry_id is None:
            return jsonify(error="this page is not checked in"), 400
        entry = db_session().get(WaitingEntry, entry_id)
        if entry is not None:
            room.patient_away(entry)
        return Response(status=204)

    @public_route("round-trip probe of the patient's connection check")
    def ping() -> Response:
        return _ping()

    limit = rate_limited(
        lambda: str(current_app.config["WAITING_ROOM_JOIN_RATE_LIMIT"]),
        message=TOO_MANY_CHECK_INS,
        scope="waiting_room.check_in",
    )
    pages.add_url_rule("/join/ping", "ping", ping, methods=["GET"])
    pages.add_url_rule("/join/away", "away", away, methods=["POST"])
    pages.add_url_rule("/join/<token>", "join", join, methods=["GET"])
    pages.add_url_rule("/join/<token>/enter", "join_enter", limit(join_enter), methods=["POST"])
    pages.add_url_rule("/wait/", "code_form", code_form, methods=["GET"])
    pages.add_url_rule("/wait/<code>", "external", external, methods=["GET"])
    pages.add_url_rule(
        "/wait/<code>/enter", "external_enter", limit(external_enter), methods=["POST"]
    )
    return pages
