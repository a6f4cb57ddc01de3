"""The Calendar's pages, its JSON feed, its iCalendar feeds and the start of a session.

See the package docstring for how *Start Telehealth Session* hands over to the consent
plugin with a signed start ticket.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any, NamedTuple
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    request,
    url_for,
)
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.sqla.models import Role, User
from flask_login import current_user
from itsdangerous import URLSafeTimedSerializer
from marshmallow import ValidationError
from sqlalchemy import select

from core.api import (
    MAX_ID,
    ApiResponse,
    Client,
    ErrorSchema,
    audit,
    commit,
    db_session,
    json_route,
    public_route,
    setting,
)
from plugins.calendar import ics
from plugins.calendar.events import announce_change, emit_status_change
from plugins.calendar.models import (
    CONTACT_TYPES,
    RECURRENCES,
    STATUSES,
    TELEHEALTH_STATUSES,
    Appointment,
    CalendarFeedKey,
    utcnow,
)
from plugins.calendar.schedule import (
    Occurrence,
    find_occurrence,
    label,
    occurrence_key,
    occurrences,
    parse_datetime,
    practice_tz,
    telehealth_refusal,
    to_local,
    wall,
)
from plugins.calendar.schemas import (
    AppointmentErrorSchema,
    AppointmentSchema,
    CalendarEventSchema,
    CalendarPageQuerySchema,
    EventsQuerySchema,
    FeedLinkSchema,
    NewAppointmentQuerySchema,
    OccurrenceQuerySchema,
    StartedSchema,
    StartRefusedSchema,
    TelehealthRuleSchema,
    first_messages,
)

SOURCE = "calendar"
#: The salt of the start ticket that the consent plugin verifies (see the package docstring).
TICKET_SALT = "calendar.start"
MAX_WINDOW = dt.timedelta(days=400)
CLINICIAN_ROLE = "Clinician"
VIEWS = ("timeGridDay", "timeGridWeek", "dayGridMonth")
PAGE = ApiResponse("The page (browsers)", content_type="text/html")
TO_PAGE = ApiResponse("Browsers: on to the page that shows the result", content_type=None)
BLANK = dict.fromkeys(
    (
        "client_id",
        "clinician_id",
        "start",
        "end",
        "notes",
        "recurrence_count",
        "recurrence_until",
        "view",
    ),
    "",
) | {"contact_type": "Telehealth", "status": "Scheduled", "recurrence": "none"}


# --- helpers ---------------------------------------------------------------------------------


class Saved(NamedTuple):
    """An appointment row the form was saved to, the change to announce once committed,
    and the status it had before (``None``: the row is new)."""

    appointment: Appointment
    change: str
    was: str | None


def commit_and_announce(appointment: Appointment, what: str, was: str | None) -> None:
    """Commit (a cancellation and its records with it), then tell open calendars and other
    plugins: nobody sees uncommitted state."""
    emit_status_change(appointment, was)
    appointment_id = appointment.id  # read before the commit expires the row
    commit()
    announce_change(appointment_id, what)


def clinicians() -> list[User]:
    query = (
        select(User)
        .where(User.roles.any(Role.name == CLINICIAN_ROLE))
        .order_by(User.last_name, User.first_name)
    )
    return list(db_session().scalars(query))


def person(user: User | None) -> str:
    if user is None:
        return "nobody"
    return f"{user.first_name} {user.last_name}".strip() or str(user.username)


def initials(client: Client) -> str:
    return f"{client.first_name[:1]}.{client.last_name[:1]}.".upper()


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def event_json(item: Occurrence, tz: Any) -> dict[str, Any]:
    appointment = item.appointment
    refusal = telehealth_refusal(item.contact_type, item.status)
    classes = [
        "cal-event",
        "cal-status-" + item.status.lower().replace(" ", "-"),
        "cal-contact-" + item.contact_type.lower().replace(" ", "-"),
    ]
    if item.overlap:
        classes.append("cal-overlap")
    url = url_for("CalendarView.show", pk=appointment.id)
    if item.key:
        url += "?" + urlencode({"occurrence": item.key})
    return {
        "id": f"{appointment.id}@{item.key}" if item.key else str(appointment.id),
        "title": appointment.client.full_name,
        "start": wall(item.start, tz),
        "end": wall(item.end, tz),
        "url": url,
        "classNames": classes,
        "extendedProps": {
            "appointment_id": appointment.id,
            "occurrence": item.key,
            "client_id": appointment.client_id,
            "clinician_id": appointment.clinician_id,
            "clinician": person(appointment.clinician),
            "contact_type": item.contact_type,
            "status": item.status,
            "recurring": item.recurring,
            "overlap": item.overlap,
            "overlaps_with": sorted({o.appointment.id for o in item.overlaps}),
            "telehealth_allowed": refusal is None,
            "start_utc": item.start.isoformat() + "Z",
            "end_utc": item.end.isoformat() + "Z",
        },
    }


def start_ticket(appointment: Appointment, user_id: int) -> str:
    """The signed hand-over to the consent plugin's start screen."""
    serializer = URLSafeTimedSerializer(current_app.secret_key or "", salt=TICKET_SALT)
    return serializer.dumps(
        {
            "v": 1,
            "appointment_id": appointment.id,
            "reference": f"calendar:{appointment.id}",
            "client_id": appointment.client_id,
            "provider_id": appointment.clinician_id,
            "issued_to": user_id,
            "starts_at": appointment.start_at.isoformat() + "Z",
            "ends_at": appointment.end_at.isoformat() + "Z",
            "appointment_time": label(appointment.start_at, appointment.end_at),
            "contact_type": appointment.contact_type,
            "status": appointment.status,
        }
    )


def feed_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def ics_response(user: User, *, details: str, filename: str) -> Response:
    """One clinician's appointments as an iCalendar document.

    ``details``: ``full`` (names and notes-free summary, for signed-in staff), ``initials``
    or ``none`` (for subscribed calendar apps, which live outside the practice)."""
    config = current_app.config
    now = utcnow().replace(microsecond=0)
    window_start = now - dt.timedelta(days=int(config["CALENDAR_ICS_PAST_DAYS"]))
    window_end = now + dt.timedelta(days=int(config["CALENDAR_ICS_FUTURE_DAYS"]))
    host = request.host.split(":")[0] or "backoffice"
    events: list[ics.IcsEvent] = []
    for item in occurrences(db_session(), window_start, window_end, clinician_id=user.id):
        appointment = item.appointment
        if details == "full":
            who = appointment.client.full_name
        elif details == "initials":
            who = initials(appointment.client)
        else:
            who = "Client"
        uid = f"calendar-{appointment.id}"
        if item.key:
            uid += f"-{item.key}"
        events.append(
            ics.IcsEvent(
                uid=f"{uid}@{host}",
                start=item.start,
                end=item.end,
                summary=f"{item.contact_type}: {who}",
                description=(
                    f"Status: {item.status}"
                    + ("\nOverlaps another appointment" if item.overlap else "")
                ),
                location={"Telehealth": "Telehealth (video)", "Phone": "Phone"}.get(
                    item.contact_type, setting("PRACTICE_NAME")
                ),
                status=item.status,
                categories=(item.contact_type,),
                last_modified=appointment.updated_at.replace(microsecond=0),
            )
        )
    body = ics.calendar(f"{person(user)} \u2013 appointments", events, now=now)
    return Response(
        body,
        mimetype="text/calendar",
        headers={
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


# --- the calendar -----------------------------------------------------------------------------


class CalendarView(BaseView):
    """Day, week and month views of appointments, and the Session Details form."""

    route_base = "/calendar"
    default_view = "index"
    class_permission_name = "Appointment"
    method_permission_name = {
        "index": "read",
        "events": "read",
        "show": "read",
        "telehealth": "read",
        "ics": "read",
        "feed_link": "read",
        "new": "write",
        "create": "write",
        "update": "write",
        "start": "start",
    }
    base_permissions = ["can_read", "can_write", "can_start"]

    # --- pages

    @expose("/")
    @json_route(
        "The calendar page",
        query=CalendarPageQuerySchema,
        negotiated=True,
        responses={200: PAGE, 400: ErrorSchema},
    )
    @has_access
    def index(self) -> Any:
        tz = practice_tz()
        view = request.args.get("view") if request.args.get("view") in VIEWS else "timeGridWeek"
        initial = request.args.get("date") or to_local(utcnow(), tz).date().isoformat()
        try:
            initial = dt.date.fromisoformat(initial).isoformat()
        except ValueError:
            return self._page_error("The date must look like 2026-03-10.")
        staff = clinicians()
        chosen = request.args.get("clinician_id")
        if chosen is None and any(c.id == current_user.id for c in staff):
            chosen = str(current_user.id)  # a clinician starts on their own calendar
        return self.render_template(
            "calendar/calendar.html",
            timezone=tz.key,
            initial_date=initial,
            initial_view=view,
            clinicians=staff,
            chosen=chosen or "",
            default_minutes=int(setting("CALENDAR_DEFAULT_MINUTES")),
            can_write=self.appbuilder.sm.has_access("can_write", "Appointment"),
            is_clinician=any(c.id == current_user.id for c in staff),
        )

    @expose("/events")
    @json_route(
        "Appointments and occurrences in a window, as the calendar widget reads them",
        query=EventsQuerySchema,
        responses={200: CalendarEventSchema(many=True), 400: ErrorSchema},
    )
    @has_access
    def events(self) -> Any:
        """The widget's feed: ``?start=&end=`` (ISO 8601) and an optional ``clinician_id``."""
        tz = practice_tz()
        try:
            window_start = parse_datetime(request.args.get("start", ""), tz)
            window_end = parse_datetime(request.args.get("end", ""), tz)
        except ValueError as exc:
            return jsonify(error=f"start and end: {exc}"), 400
        if window_end <= window_start:
            return jsonify(error="end must be after start"), 400
        if window_end - window_start > MAX_WINDOW:
            return jsonify(error="ask for at most 400 days at a time"), 400
        clinician_id: int | None = None
        if request.args.get("clinician_id"):
            try:
                clinician_id = int(request.args["clinician_id"])
            except ValueError:
                return jsonify(error="clinician_id must be a whole number"), 400
            if not 1 <= clinician_id <= MAX_ID:
                return jsonify(error="clinician_id is not the id of a user"), 400
        found = occurrences(db_session(), window_start, window_end, clinician_id=clinician_id)
        audit(
            "calendar.viewed",
            details={
                "start": window_start.isoformat(),
                "end": window_end.isoformat(),
                "clinician_id": clinician_id,
                "appointments": len(found),
            },
            source=SOURCE,
        )
        db_session().commit()
        return jsonify([event_json(item, tz) for item in found])

    @expose("/appointments/new")
    @json_route(
        "The Session Details form for a vacant slot",
        query=NewAppointmentQuerySchema,
        negotiated=True,
        responses={200: PAGE, 400: ErrorSchema},
    )
    @has_access
    def new(self) -> Any:
        """The Session Details form for a vacant slot (``?start=&end=&clinician_id=``)."""
        tz = practice_tz()
        minutes = int(setting("CALENDAR_DEFAULT_MINUTES"))
        try:
            start = parse_datetime(request.args["start"], tz) if request.args.get("start") else None
            end = parse_datetime(request.args["end"], tz) if request.args.get("end") else None
        except ValueError as exc:
            return self._page_error(f"The slot is not valid: {exc}.")
        if start is None:
            start = (utcnow() + dt.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        if end is None or end <= start:
            end = start + dt.timedelta(minutes=minutes)
        clinician = request.args.get("clinician_id") or ""
        if not clinician and any(c.id == current_user.id for c in clinicians()):
            clinician = str(current_user.id)
        values = {
            "client_id": request.args.get("client_id", ""),
            "clinician_id": clinician,
            "start": wall(start, tz),
            "end": wall(end, tz),
            "contact_type": "Telehealth",
            "status": "Scheduled",
            "notes": "",
            "recurrence": "none",
            "recurrence_count": "",
            "recurrence_until": "",
            "view": request.args.get("view", ""),
        }
        return self._form(values, appointment=None, occurrence=None)

    @expose("/appointments/", methods=["POST"])
    @json_route(
        "Create an appointment (or a series)",
        body=AppointmentSchema,
        form=AppointmentSchema,
        negotiated=True,
        responses={201: CalendarEventSchema, 303: TO_PAGE, 400: AppointmentErrorSchema},
    )
    @has_access
    def create(self) -> Any:
        data, errors = self._load()
        if errors:
            return self._invalid(errors, appointment=None, occurrence=None)
        appointment = Appointment(created_by=current_user.username)
        self._assign(appointment, data, with_rule=True)
        session = db_session()
        session.add(appointment)
        session.flush()
        audit(
            "calendar.appointment_created",
            target=f"appointment:{appointment.id}",
            details=self._summary(appointment),
            source=SOURCE,
        )
        commit_and_announce(appointment, "created", None)
        item = find_occurrence(session, appointment, None)
        self._warn_overlaps(item)
        if wants_json():
            return jsonify(event_json(item, practice_tz()) if item else {"id": appointment.id}), 201
        flash("Appointment created.", "success")
        day = to_local(appointment.start_at).date().isoformat()
        view = data.get("view") if data.get("view") in VIEWS else "timeGridWeek"
        return redirect(
            url_for(
                "CalendarView.index",
                date=day,
                view=view,
                clinician_id=appointment.clinician_id,
            ),
            303,
        )

    @expose("/appointments/<int:pk>")
    @json_route(
        "One appointment, or one occurrence of a series",
        query=OccurrenceQuerySchema,
        negotiated=True,
        responses={200: CalendarEventSchema, 400: ErrorSchema, 404: ErrorSchema},
    )
    @has_access
    def show(self, pk: int) -> Any:
        appointment, item = self._occurrence(pk, request.args.get("occurrence"))
        audit(
            "calendar.appointment_viewed",
            target=f"appointment:{pk}",
            details={"occurrence": item.key},
            source=SOURCE,
        )
        db_session().commit()
        if wants_json():
            return jsonify(event_json(item, practice_tz()))
        return self._form(self._values(item), appointment=appointment, occurrence=item)

    @expose("/appointments/<int:pk>", methods=["POST"])
    @json_route(
        "Change an appointment, its whole series, or one occurrence (scope)",
        query=OccurrenceQuerySchema,
        body=AppointmentSchema,
        form=AppointmentSchema,
        negotiated=True,
        responses={
            200: CalendarEventSchema,
            303: TO_PAGE,
            400: AppointmentErrorSchema,
            404: ErrorSchema,
        },
    )
    @has_access
    def update(self, pk: int) -> Any:
        appointment, item = self._occurrence(
            pk, self._field("occurrence") or request.args.get("occurrence")
        )
        data, errors = self._load()
        if errors:
            return self._invalid(errors, appointment=appointment, occurrence=item)
        try:
            saved, change, was = self._save(appointment, item, data)
        except ValidationError as exc:
            return self._invalid(first_messages(exc.normalized_messages()), appointment, item)
        commit_and_announce(saved, change, was)
        self._warn_overlaps(find_occurrence(db_session(), saved, None))
        if wants_json():
            return jsonify(event_json(self._occurrence(saved.id, None)[1], practice_tz()))
        flash("Appointment saved.", "success")
        return redirect(url_for("CalendarView.show", pk=saved.id), 303)

    @expose("/appointments/<int:pk>/telehealth")
    @json_route(
        "Whether a telehealth session may start for this appointment, and why not",
        query=OccurrenceQuerySchema,
        responses={200: TelehealthRuleSchema, 400: ErrorSchema, 404: ErrorSchema},
    )
    @has_access
    def telehealth(self, pk: int) -> Any:
        """The telehealth rule for this appointment: ``{allowed, reason}``."""
        _appointment, item = self._occurrence(pk, request.args.get("occurrence"))
        reason = telehealth_refusal(item.contact_type, item.status)
        return jsonify(
            allowed=reason is None,
            reason=reason,
            telehealth_enabled=bool(setting("TELEHEALTH_ENABLED")),
            contact_type=item.contact_type,
            status=item.status,
            allowed_statuses=list(TELEHEALTH_STATUSES),
        )

    @expose("/appointments/<int:pk>/start", methods=["POST"])
    @json_route(
        "Start Telehealth Session: save changes sent with it, check the rule, hand over",
        description=(
            "With `status` or `contact_type` the body is the whole Session Details form "
            "(saved for this occurrence first); without, the appointment as it is."
        ),
        query=OccurrenceQuerySchema,
        body=AppointmentSchema(partial=True),
        form=AppointmentSchema(partial=True),
        negotiated=True,
        responses={
            200: StartedSchema,
            303: TO_PAGE,
            400: AppointmentErrorSchema,
            404: ErrorSchema,
            409: StartRefusedSchema,
        },
    )
    @has_access
    def start(self, pk: int) -> Any:
        """Start Telehealth Session: save the form's changes if any, enforce the rule, and
        hand over to the consent step with a signed start ticket."""
        appointment, item = self._occurrence(
            pk, self._field("occurrence") or request.args.get("occurrence")
        )
        data: dict[str, Any] | None = None
        contact_type, status = item.contact_type, item.status
        if self._field("status") is not None or self._field("contact_type") is not None:
            data, errors = self._load()
            if errors:
                return self._invalid(errors, appointment=appointment, occurrence=item)
            data["scope"] = "occurrence"  # a session concerns this occurrence only
            contact_type, status = data["contact_type"], data["status"]
        reason = telehealth_refusal(contact_type, status)
        if reason is not None:
            audit(
                "calendar.telehealth_refused",
                target=f"appointment:{pk}",
                details={"reason": reason, "occurrence": item.key},
                source=SOURCE,
            )
            db_session().commit()
            if wants_json():
                return jsonify(allowed=False, error=reason), 409
            flash(f"Cannot start a telehealth session: {reason}", "danger")
            values = self._values(item)
            if data is not None:
                values.update(self._echo())
            return self._form(values, appointment=appointment, occurrence=item, status=409)
        saved: Saved | None = None
        if data is not None:
            try:
                saved = self._save(appointment, item, data)
            except ValidationError as exc:
                return self._invalid(first_messages(exc.normalized_messages()), appointment, item)
            appointment = saved.appointment
        ticket = start_ticket(appointment, int(current_user.id))
        audit(
            "calendar.telehealth_started",
            target=f"appointment:{appointment.id}",
            details={"client_id": appointment.client_id, "clinician_id": appointment.clinician_id},
            source=SOURCE,
        )
        if saved is None:
            db_session().commit()
        else:
            commit_and_announce(*saved)
        target = str(current_app.config["CALENDAR_CONSENT_START_URL"])
        location = f"{target}?{urlencode({'ticket': ticket})}"
        if wants_json():
            return jsonify(allowed=True, location=location)
        return redirect(location, 303)

    # --- iCalendar

    @expose("/ics/<int:user_id>.ics")
    @has_access
    def ics(self, user_id: int) -> Any:
        """One clinician's appointments for signed-in staff (e.g. to download)."""
        user = db_session().get(User, user_id)
        if user is None:
            abort(404)
        audit("calendar.ics_viewed", target=f"user:{user_id}", source=SOURCE)
        db_session().commit()
        return ics_response(user, details="full", filename=f"appointments-{user_id}.ics")

    @expose("/feed-link", methods=["POST"])
    @json_route(
        "Make (or replace) the caller's secret calendar subscription link",
        negotiated=True,
        responses={200: FeedLinkSchema},
    )
    @has_access
    def feed_link(self) -> Any:
        """Make (or replace) the signed-in user's secret subscription link."""
        key = secrets.token_urlsafe(32)
        session = db_session()
        row = session.get(CalendarFeedKey, current_user.id)
        if row is None:
            row = CalendarFeedKey(clinician_id=current_user.id, key_hash=feed_key_hash(key))
            session.add(row)
        else:
            row.key_hash = feed_key_hash(key)
            row.created_at = utcnow()
        session.flush()
        audit("calendar.feed_key_created", target=f"user:{current_user.id}", source=SOURCE)
        db_session().commit()
        url = url_for("calendar_feed.feed", key=key, _external=True)
        if wants_json():
            return jsonify(url=url)
        return self.render_template("calendar/feed_link.html", url=url)

    # --- internals

    def _field(self, name: str) -> Any:
        if request.is_json:
            body = request.get_json(silent=True)
            return body.get(name) if isinstance(body, dict) else None
        return request.form.get(name) if name in request.form else None

    def _echo(self) -> dict[str, Any]:
        """What the user sent, to show it again with the errors (plain values only)."""
        if request.is_json:
            body = request.get_json(silent=True)
            sent: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
        else:
            sent = {key: request.form.get(key) for key in request.form}
        return {k: v for k, v in sent.items() if isinstance(v, str | int) and k != "csrf_token"}

    def _occurrence(self, pk: int, key: str | None) -> tuple[Appointment, Occurrence]:
        appointment = db_session().get(Appointment, pk)
        if appointment is None:
            abort(404)
        try:
            item = find_occurrence(db_session(), appointment, key or None)
        except ValueError as exc:
            abort(400, description=str(exc))
        if item is None:
            abort(404)
        return appointment, item

    def _load(self) -> tuple[dict[str, Any], dict[str, str]]:
        raw: Any = request.get_json(silent=True) if request.is_json else request.form
        if raw is None:
            raw = {}
        try:
            data = AppointmentSchema().load(raw)
        except ValidationError as exc:
            return {}, first_messages(exc.normalized_messages())
        errors: dict[str, str] = {}
        session = db_session()
        if session.get(Client, data["client_id"]) is None:
            errors["client_id"] = f"There is no client with id {data['client_id']}."
        staff = {c.id for c in clinicians()}
        if data["clinician_id"] not in staff:
            errors["clinician_id"] = (
                f"User {data['clinician_id']} is not a clinician (holds no Clinician role)."
            )
        return data, errors

    def _assign(self, appointment: Appointment, data: dict[str, Any], *, with_rule: bool) -> None:
        appointment.client_id = data["client_id"]
        appointment.clinician_id = data["clinician_id"]
        appointment.start_at = data["start"]
        appointment.end_at = data["end"]
        appointment.contact_type = data["contact_type"]
        appointment.status = data["status"]
        appointment.notes = data["notes"]
        if with_rule:
            appointment.recurrence = data["recurrence"]
            appointment.recurrence_count = data["recurrence_count"]
            appointment.recurrence_until = data["recurrence_until"]
        appointment.updated_at = utcnow()
        appointment.updated_by = current_user.username

    def _save(self, appointment: Appointment, item: Occurrence, data: dict[str, Any]) -> Saved:
        """Apply the form to the row, to the whole series, or detach one occurrence, with
        its audit row."""
        session = db_session()
        if item.virtual and data["scope"] == "occurrence":
            if data["recurrence"] != "none":
                raise ValidationError(
                    "One occurrence of a series cannot repeat on its own.", "recurrence"
                )
            child = Appointment(
                series_id=appointment.id,
                original_start=item.start,
                created_by=current_user.username,
            )
            self._assign(child, data, with_rule=True)
            session.add(child)
            session.flush()
            audit(
                "calendar.occurrence_detached",
                target=f"appointment:{child.id}",
                details={
                    "series_id": appointment.id,
                    "occurrence": item.key,
                    **self._summary(child),
                },
                source=SOURCE,
            )
            return Saved(child, "created", item.status)
        before = self._summary(appointment)
        if item.virtual:  # the whole series, edited from one of its occurrences
            shift = data["start"] - item.start
            status = appointment.status
            data = {
                **data,
                "start": appointment.start_at + shift,
                "end": appointment.start_at + shift + (data["end"] - data["start"]),
            }
            self._assign(appointment, data, with_rule=False)  # the rule is edited on the first
            appointment.status = status  # each occurrence keeps its own status
        else:
            if appointment.series_id is not None and data["recurrence"] != "none":
                raise ValidationError(
                    "One occurrence of a series cannot repeat on its own.", "recurrence"
                )
            self._assign(appointment, data, with_rule=True)
        after = self._summary(appointment)
        changed = sorted(key for key in after if before.get(key) != after[key])
        session.flush()
        audit(
            "calendar.appointment_updated",
            target=f"appointment:{appointment.id}",
            details={
                "changed": changed,
                "status": appointment.status,
                "contact_type": appointment.contact_type,
                "scope": data["scope"] if item.virtual else "appointment",
            },
            source=SOURCE,
        )
        return Saved(appointment, "updated", before["status"])

    @staticmethod
    def _summary(appointment: Appointment) -> dict[str, Any]:
        """What the audit log keeps about an appointment (no notes: they may hold PHI)."""
        return {
            "client_id": appointment.client_id,
            "clinician_id": appointment.clinician_id,
            "start": appointment.start_at.isoformat(),
            "end": appointment.end_at.isoformat(),
            "contact_type": appointment.contact_type,
            "status": appointment.status,
            "recurrence": appointment.recurrence,
            "recurrence_count": appointment.recurrence_count,
            "recurrence_until": (
                appointment.recurrence_until.isoformat() if appointment.recurrence_until else None
            ),
            "notes_length": len(appointment.notes or ""),
        }

    def _warn_overlaps(self, item: Occurrence | None) -> None:
        if item is None or not item.overlaps or wants_json():
            return
        tz = practice_tz()
        others = ", ".join(
            f"{o.appointment.client.full_name} at {to_local(o.start, tz).strftime('%H:%M')}"
            for o in item.overlaps
        )
        flash(
            f"This appointment overlaps another of {person(item.appointment.clinician)}: {others}.",
            "warning",
        )

    def _values(self, item: Occurrence) -> dict[str, Any]:
        appointment = item.appointment
        tz = practice_tz()
        return {
            "client_id": str(appointment.client_id),
            "clinician_id": str(appointment.clinician_id),
            "start": wall(item.start, tz),
            "end": wall(item.end, tz),
            "contact_type": item.contact_type,
            "status": item.status,
            "notes": appointment.notes,
            "recurrence": "none" if item.virtual else appointment.recurrence,
            "recurrence_count": appointment.recurrence_count or "",
            "recurrence_until": (
                appointment.recurrence_until.isoformat() if appointment.recurrence_until else ""
            ),
            "view": "",
        }

    def _invalid(
        self,
        errors: dict[str, str],
        appointment: Appointment | None,
        occurrence: Occurrence | None,
    ) -> Any:
        if wants_json():
            return jsonify(error="The appointment is not valid.", errors=errors), 400
        values: dict[str, Any] = self._values(occurrence) if occurrence else dict(BLANK)
        values.update(self._echo())
        return self._form(
            values, appointment=appointment, occurrence=occurrence, errors=errors, status=400
        )

    def _form(
        self,
        values: dict[str, Any],
        *,
        appointment: Appointment | None,
        occurrence: Occurrence | None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Any:
        tz = practice_tz()
        sm = self.appbuilder.sm
        refusal = (
            telehealth_refusal(occurrence.contact_type, occurrence.status)
            if occurrence is not None
            else None
        )
        staff = clinicians()
        if appointment is not None and all(c.id != appointment.clinician_id for c in staff):
            staff.append(appointment.clinician)
        clients = list(
            db_session().scalars(select(Client).order_by(Client.last_name, Client.first_name))
        )
        page = self.render_template(
            "calendar/appointment.html",
            appointment=appointment,
            occurrence=occurrence,
            values=values,
            errors=errors or {},
            clients=clients,
            clinicians=staff,
            contact_types=CONTACT_TYPES,
            statuses=STATUSES,
            recurrences=RECURRENCES,
            timezone=tz.key,
            when=label(occurrence.start, occurrence.end, tz) if occurrence else "",
            overlaps=[
                (o, label(o.start, o.end, tz)) for o in (occurrence.overlaps if occurrence else [])
            ],
            telehealth_enabled=bool(setting("TELEHEALTH_ENABLED")),
            telehealth_statuses=TELEHEALTH_STATUSES,
            refusal=refusal,
            can_write=sm.has_access("can_write", "Appointment"),
            can_start=sm.has_access("can_start", "Appointment"),
            occurrence_key=occurrence_key,
        )
        return page, status

    def _page_error(self, message: str) -> Any:
        if wants_json():
            return jsonify(error=message), 400
        flash(message, "danger")
        return self.render_template("calendar/error.html", message=message), 400


# --- the secret subscription feed ---------------------------------------------------------------

feed_pages = Blueprint("calendar_feed", __name__)


@feed_pages.route("/calendar/feed/<key>.ics")
@public_route("calendar apps subscribe with a clinician's secret, unguessable feed key")
def feed(key: str) -> Any:
    if not 20 <= len(key) <= 100:
        abort(404)
    session = db_session()
    row = session.scalar(
        select(CalendarFeedKey).where(CalendarFeedKey.key_hash == feed_key_hash(key))
    )
    user = session.get(User, row.clinician_id) if row is not None else None
    if user is None:
        abort(404)
    audit(
        "calendar.feed_read",
        target=f"user:{user.id}",
        details={"details": current_app.config["CALENDAR_ICS_FEED_DETAILS"]},
        source=SOURCE,
    )
    db_session().commit()
    return ics_response(
        user,
        details=str(current_app.config["CALENDAR_ICS_FEED_DETAILS"]),
        filename="appointments.ics",
    )
