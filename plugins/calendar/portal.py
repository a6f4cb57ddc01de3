"""The calendar's sections of the patient portal: upcoming appointments (with *Join* into
the waiting room) and past visits. Only the signed-in client's own appointments, ever."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.routing import BuildError

from core.api import (
    PatientInvite,
    audit,
    create_invite,
    db_session,
    is_plugin_enabled,
    portal_client,
    portal_required,
    public_route,
    revoke_invite,
    setting,
)
from plugins.calendar.models import Appointment, utcnow
from plugins.calendar.schedule import (
    Occurrence,
    find_occurrence,
    join_refusal,
    label,
    occurrences,
    to_local,
)

SOURCE = "calendar"
UPCOMING_DAYS = 90
VISIT_STATUSES = ("Occurred", "Checked-In")
REASON = (
    "the patient portal's appointments; the client's portal sign-in is the key and only "
    "their own appointments are shown or joined"
)

portal_pages = Blueprint("calendar_portal", __name__)


def _minutes() -> int:
    return int(setting("CALENDAR_PORTAL_JOIN_MINUTES"))


def _clinician(item: Occurrence) -> str:
    user = item.appointment.clinician
    return f"{user.first_name} {user.last_name}".strip() or str(user.username)


def _reference(item: Occurrence) -> str:
    # "<what>@<when>", as the consent screen writes it: the waiting room shows the time.
    return f"calendar:{item.appointment.id}@{item.start.isoformat()}Z"


def _upcoming(client_id: int, now: dt.datetime) -> list[Occurrence]:
    found = occurrences(
        db_session(),
        now - dt.timedelta(hours=12),
        now + dt.timedelta(days=UPCOMING_DAYS),
        client_id=client_id,
    )
    return [o for o in found if o.end > now and o.status not in ("Cancelled", "No-show")]


@portal_pages.route("/portal/appointments", methods=["GET"])
@public_route(REASON)
@portal_required
def appointments() -> Any:
    client = portal_client()
    assert client is not None  # portal_required
    now = utcnow()
    minutes = _minutes()
    rows = []
    soon = False
    for item in _upcoming(client.id, now):
        refusal = join_refusal(item.contact_type, item.status, item.start, item.end, now, minutes)
        opens = item.start - dt.timedelta(minutes=minutes)
        if item.contact_type == "Telehealth" and now < opens < now + dt.timedelta(hours=1):
            soon = True
        rows.append(
            {
                "item": item,
                "when": label(item.start, item.end),
                "clinician": _clinician(item),
                "refusal": refusal,
                "telehealth": item.contact_type == "Telehealth",
                "opens": to_local(opens).strftime("%H:%M"),
            }
        )
    return render_template(
        "calendar/portal_appointments.html",
        rows=rows,
        minutes=minutes,
        waiting_room=is_plugin_enabled("waiting_room"),
        refresh=60 if soon else None,  # the Join button opens without a reload by hand
        practice_name=current_app.config.get("PRACTICE_NAME", ""),
        portal_section="appointments",
    )


@portal_pages.route("/portal/appointments/<int:pk>/join", methods=["POST"])
@public_route(REASON)
@portal_required
def join(pk: int) -> Any:
    client = portal_client()
    assert client is not None  # portal_required
    appointment = db_session().get(Appointment, pk)
    if appointment is None or appointment.client_id != client.id:
        abort(404)  # another client's appointment is no different from none
    key = request.form.get("occurrence") or None
    try:
        item = find_occurrence(db_session(), appointment, key)
    except ValueError:
        item = None
    if item is None:
        abort(404)
    now = utcnow()
    refusal = join_refusal(item.contact_type, item.status, item.start, item.end, now, _minutes())
    if refusal is None and not is_plugin_enabled("waiting_room"):
        refusal = "The waiting room is closed. Please call the practice."
    if refusal is not None:
        return render_template(
            "calendar/portal_refused.html",
            message=refusal,
            practice_name=current_app.config.get("PRACTICE_NAME", ""),
            portal_section="appointments",
        ), 409
    reference = _reference(item)
    earlier = db_session().scalars(
        select(PatientInvite.id).where(
            PatientInvite.client_id == client.id,
            PatientInvite.reference == reference,
            PatientInvite.source == SOURCE,
            PatientInvite.revoked_at.is_(None),
        )
    )
    for invite_id in list(earlier):  # one live portal link per appointment
        revoke_invite(invite_id, source=SOURCE, commit=False)
    issued = create_invite(
        "appointment",
        source=SOURCE,
        client_id=client.id,
        provider_id=appointment.clinician_id,
        reference=reference,
        ttl=item.end - now + dt.timedelta(minutes=30),
        created_by=f"client:{client.id}",
        commit=False,
    )
    audit(
        "calendar.portal_joined",
        target=f"appointment:{appointment.id}",
        details={"client_id": client.id, "invite_id": issued.invite.id, "occurrence": key},
        source=SOURCE,
        actor=f"client:{client.id}",
    )
    db_session().commit()
    try:
        url = issued.url
    except BuildError:
        url = request.host_url.rstrip("/") + "/join/" + issued.token
    return redirect(url, 303)


@portal_pages.route("/portal/visits", methods=["GET"])
@public_route(REASON)
@portal_required
def visits() -> Any:
    client = portal_client()
    assert client is not None  # portal_required
    rows = list(
        db_session().scalars(
            select(Appointment)
            .options(selectinload(Appointment.clinician))
            .where(
                Appointment.client_id == client.id,
                Appointment.end_at <= utcnow(),
                Appointment.status.in_(VISIT_STATUSES),
            )
            .order_by(Appointment.start_at.desc())
            .limit(50)
        )
    )
    return render_template(
        "calendar/portal_visits.html",
        visits=[
            {
                "appointment": a,
                "when": label(a.start_at, a.end_at),
                "clinician": f"{a.clinician.first_name} {a.clinician.last_name}".strip(),
            }
            for a in rows
        ],
        practice_name=current_app.config.get("PRACTICE_NAME", ""),
        portal_section="visits",
    )
