"""The Calendar plugin: the telehealth button rule, the Session Details form, recurring
series, overlaps, the iCalendar feeds and bad input, in-process on every backend."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from core.api import Client
from core.database import db
from core.models import AuditEntry
from core.realtime import socketio_of
from plugins.calendar import events as calendar_events
from plugins.calendar import ics, schedule
from plugins.calendar.models import CONTACT_TYPES, STATUSES, Appointment, CalendarFeedKey
from tests.commit_counter import Commits, count_commits, engine_of
from tests.conftest import csrf_token_from, login

# Far from the demo data (seeded for "today"), so nothing overlaps by accident.
DAY = dt.date(2031, 3, 4)  # a Tuesday
TELEHEALTH_OK = {"Confirmed", "Checked-In", "Occurred"}


# --- helpers ---------------------------------------------------------------------------------


def user_id(app: Flask, username: str) -> int:
    with app.app_context():
        return int(app.extensions["appbuilder"].sm.find_user(username=username).id)


def client_id(app: Flask, first_name: str) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(Client.id).where(Client.first_name == first_name)))


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute))


def add_appointment(app: Flask, **fields: Any) -> int:
    """Insert a row directly (UTC naive times), defaults filled in."""
    values: dict[str, Any] = {
        "client_id": client_id(app, "Alex"),
        "clinician_id": user_id(app, "clinician1"),
        "start_at": at(10),
        "end_at": at(10, 50),
        "contact_type": "Telehealth",
        "status": "Scheduled",
        "notes": "",
        "recurrence": "none",
    }
    values.update(fields)
    with app.app_context():
        row = Appointment(**values)
        db.session.add(row)
        db.session.commit()
        return int(row.id)


def events(client: FlaskClient, start: str, end: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/calendar/events", query_string={"start": start, "end": end, **params})
    assert response.status_code == 200, response.text
    return list(response.get_json())


def start_button(html: str) -> str | None:
    """The Start Telehealth Session button's tag, or None when it is not on the page."""
    match = re.search(r'<button[^>]*id="start-telehealth"[^>]*>', html, re.S)
    return match.group(0) if match else None


def audit_actions(app: Flask, prefix: str) -> list[AuditEntry]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.action.startswith(prefix))
                .order_by(AuditEntry.id)
            )
        )


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(WTF_CSRF_ENABLED=False)


@pytest.fixture
def clinician(app: Flask) -> Iterator[FlaskClient]:
    client = app.test_client()
    login(client, "clinician1")
    yield client


def form_for(app: Flask, **overrides: Any) -> dict[str, Any]:
    data = {
        "client_id": str(client_id(app, "Brooke")),
        "clinician_id": str(user_id(app, "clinician1")),
        "start": "2031-03-04T10:00",
        "end": "2031-03-04T10:50",
        "contact_type": "Telehealth",
        "status": "Scheduled",
        "notes": "First session",
        "recurrence": "none",
    }
    data.update(overrides)
    return data


# --- the telehealth rule -------------------------------------------------------------------


def test_start_button_rule_for_every_status_and_contact_type(
    app: Flask, clinician: FlaskClient
) -> None:
    """18 combinations: the page shows the button, and the server enforces the same rule."""
    checked = 0
    for hour, (status, contact) in enumerate(
        [(s, c) for s in STATUSES for c in CONTACT_TYPES], start=0
    ):
        pk = add_appointment(
            app,
            status=status,
            contact_type=contact,
            start_at=at(0) + dt.timedelta(hours=hour),
            end_at=at(0, 50) + dt.timedelta(hours=hour),
        )
        allowed = contact == "Telehealth" and status in TELEHEALTH_OK

        page = clinician.get(f"/calendar/appointments/{pk}")
        assert page.status_code == 200
        button = start_button(page.text)
        assert button is not None, "the button is on the page, shown or hidden by the rule"
        assert ("hidden" not in button) is allowed, (status, contact, button)
        why = re.search(r'<p class="help-block" id="telehealth-why"([^>]*)>([^<]*)</p>', page.text)
        assert why is not None
        assert ("hidden" in why.group(1)) is allowed

        rule = clinician.get(f"/calendar/appointments/{pk}/telehealth").get_json()
        assert rule["allowed"] is allowed

        started = clinician.post(f"/calendar/appointments/{pk}/start")
        if allowed:
            assert started.status_code == 303, (status, contact)
            location = started.headers["Location"]
            assert location.startswith("/consent/start?ticket=")
            assert rule["reason"] is None
        else:
            assert started.status_code == 409, (status, contact)
            assert "Cannot start a telehealth session" in started.text
            reason = rule["reason"]
            assert reason and reason in started.text.replace("&#39;", "'")
            if contact != "Telehealth":
                assert f"The contact type is {contact}" in reason
            else:
                assert f"The status is {status}" in reason
                assert "Confirmed, Checked-In or Occurred" in reason
            as_json = clinician.post(
                f"/calendar/appointments/{pk}/start", headers={"Accept": "application/json"}
            )
            assert as_json.status_code == 409
            assert as_json.get_json() == {"allowed": False, "error": reason}
        checked += 1
    assert checked == len(STATUSES) * len(CONTACT_TYPES) == 18
    refused = audit_actions(app, "calendar.telehealth_refused")
    started_rows = audit_actions(app, "calendar.telehealth_started")
    assert len(started_rows) == 3
    assert len(refused) == 2 * 15  # each refusal: once as a page, once as JSON


def test_no_button_and_a_refusal_when_telehealth_is_off(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, TELEHEALTH_ENABLED=False)
    client = app.test_client()
    login(client, "clinician1")
    pk = add_appointment(app, status="Confirmed", contact_type="Telehealth")
    page = client.get(f"/calendar/appointments/{pk}")
    assert start_button(page.text) is None
    assert "Telehealth is not enabled for this practice." in page.text
    started = client.post(f"/calendar/appointments/{pk}/start")
    assert started.status_code == 409
    assert "Telehealth is not enabled for this practice." in started.text
    feed = events(client, "2031-03-03T00:00", "2031-03-05T00:00")
    assert [e["extendedProps"]["telehealth_allowed"] for e in feed] == [False]


def test_start_saves_the_status_chosen_on_the_form_then_hands_over(
    app: Flask, clinician: FlaskClient
) -> None:
    """The guide's steps: open the appointment, choose Confirmed, press Start."""
    pk = add_appointment(app, status="Scheduled")
    refused = clinician.post(f"/calendar/appointments/{pk}/start", data=form_for(app))
    assert refused.status_code == 409
    with app.app_context():
        assert db.session.get(Appointment, pk).status == "Scheduled"  # a refusal saves nothing

    started = clinician.post(
        f"/calendar/appointments/{pk}/start", data=form_for(app, status="Confirmed")
    )
    assert started.status_code == 303
    with app.app_context():
        row = db.session.get(Appointment, pk)
        assert row.status == "Confirmed"
        assert row.client_id == client_id(app, "Brooke")
    ticket = parse_qs(urlsplit(started.headers["Location"]).query)["ticket"][0]
    from itsdangerous import URLSafeTimedSerializer

    with app.app_context():
        claims = URLSafeTimedSerializer(str(app.secret_key), salt="calendar.start").loads(ticket)
    assert claims["reference"] == f"calendar:{pk}"
    assert claims["client_id"] == client_id(app, "Brooke")
    assert claims["provider_id"] == user_id(app, "clinician1")
    assert claims["issued_to"] == user_id(app, "clinician1")
    assert "2031" in claims["appointment_time"]


def test_staff_schedule_but_only_clinicians_start_sessions(app: Flask) -> None:
    desk = app.test_client()
    login(desk, "frontdesk")
    assert desk.get("/calendar/").status_code == 200
    created = desk.post("/calendar/appointments/", data=form_for(app, status="Confirmed"))
    assert created.status_code == 303
    with app.app_context():
        pk = db.session.scalar(sa.select(sa.func.max(Appointment.id)))
    page = desk.get(f"/calendar/appointments/{pk}")
    assert page.status_code == 200 and start_button(page.text) is None
    assert desk.post(f"/calendar/appointments/{pk}/start").status_code == 403


def test_start_needs_a_csrf_token(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    login(client, "clinician1")
    pk = add_appointment(app, status="Confirmed")
    assert client.post(f"/calendar/appointments/{pk}/start").status_code == 400
    page = client.get(f"/calendar/appointments/{pk}")
    token = csrf_token_from(page.text)
    started = client.post(f"/calendar/appointments/{pk}/start", data={"csrf_token": token})
    assert started.status_code == 303


# --- the calendar and the Session Details form -------------------------------------------------


def test_calendar_page_and_vacant_slot_open_the_session_details_form(
    app: Flask, clinician: FlaskClient
) -> None:
    page = clinician.get("/calendar/?date=2031-03-04&view=timeGridDay")
    assert page.status_code == 200
    assert "vendor/fullcalendar-6.1.21/index.global.min.js" in page.text
    assert 'data-view="timeGridDay"' in page.text and 'data-date="2031-03-04"' in page.text
    assert f'<option value="{user_id(app, "clinician1")}" selected>' in page.text

    form = clinician.get(
        "/calendar/appointments/new",
        query_string={"start": "2031-03-04T09:30", "end": "2031-03-04T10:00"},
    )
    assert form.status_code == 200
    assert "Session Details" in form.text
    assert 'value="2031-03-04T09:30"' in form.text
    assert 'value="2031-03-04T10:00"' in form.text
    assert 'id="cal-create"' in form.text and start_button(form.text) is None

    live = socketio_of(app).test_client(app, namespace="/staff", flask_test_client=clinician)
    created = clinician.post("/calendar/appointments/", data=form_for(app, view="timeGridDay"))
    assert created.status_code == 303
    changed = [m["args"][0] for m in live.get_received("/staff") if m["name"] == "calendar.changed"]
    assert changed and set(changed[0]) == {"appointment_id", "change"}  # ids only, no PHI
    live.disconnect(namespace="/staff")
    assert "date=2031-03-04" in created.headers["Location"]
    assert "view=timeGridDay" in created.headers["Location"]
    with app.app_context():
        row = db.session.scalar(sa.select(Appointment).order_by(Appointment.id.desc()).limit(1))
        assert (row.start_at, row.end_at) == (at(10), at(10, 50))
        assert (row.contact_type, row.status, row.notes) == (
            "Telehealth",
            "Scheduled",
            "First session",
        )
        assert row.created_by == "clinician1"
    feed = events(clinician, "2031-03-04T00:00:00Z", "2031-03-05T00:00:00Z")
    assert [(e["title"], e["start"], e["end"]) for e in feed] == [
        ("Brooke Chen", "2031-03-04T10:00", "2031-03-04T10:50")
    ]
    assert feed[0]["url"] == f"/calendar/appointments/{row.id}"

    saved = clinician.post(
        f"/calendar/appointments/{row.id}",
        data=form_for(app, status="Checked-In", contact_type="Phone", notes="moved"),
    )
    assert saved.status_code == 303
    with app.app_context():
        again = db.session.get(Appointment, row.id)
        assert (again.status, again.contact_type, again.notes) == ("Checked-In", "Phone", "moved")
    created_audit = audit_actions(app, "calendar.appointment_created")
    updated_audit = audit_actions(app, "calendar.appointment_updated")
    assert created_audit[-1].target == f"appointment:{row.id}"
    assert created_audit[-1].actor == "clinician1"
    assert "notes" not in (created_audit[-1].details or {})  # notes may hold PHI
    assert set((updated_audit[-1].details or {})["changed"]) >= {
        "status",
        "contact_type",
        "notes_length",
    }
    assert audit_actions(app, "calendar.viewed")  # the feed's reads are PHI views


def test_bad_input_is_refused_with_messages(app: Flask, clinician: FlaskClient) -> None:
    def refused(data: dict[str, Any], field: str, words: str) -> None:
        as_form = clinician.post("/calendar/appointments/", data=data)
        assert as_form.status_code == 400, as_form.text
        assert words in as_form.text.replace("&#39;", "'"), as_form.text
        assert f'data-field="{field}"' in as_form.text
        as_json = clinician.post("/calendar/appointments/", json=data)
        assert as_json.status_code == 400
        body = as_json.get_json()
        assert words in body["errors"][field], body

    before = 0
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(Appointment))
    refused(form_for(app, end="2031-03-04T09:00"), "end", "The end must be after the start.")
    refused(form_for(app, end="2031-03-04T10:00"), "end", "The end must be after the start.")
    refused(form_for(app, start="tomorrow at ten"), "start", "is not a date and time")
    refused(form_for(app, start="2031-02-30T10:00"), "start", "is not a date and time")
    refused(form_for(app, client_id="999999"), "client_id", "There is no client with id 999999.")
    refused(form_for(app, client_id="x"), "client_id", "Not a valid integer.")
    refused(form_for(app, client_id=""), "client_id", "Choose a client.")
    refused(
        form_for(app, clinician_id=str(user_id(app, "frontdesk"))),
        "clinician_id",
        "is not a clinician",
    )
    refused(form_for(app, contact_type="Carrier pigeon"), "contact_type", "Contact type must be")
    refused(form_for(app, status="Maybe"), "status", "Status must be one of")
    refused(
        form_for(app, recurrence="weekly"),
        "recurrence_count",
        "needs a number of occurrences or an end date",
    )
    refused(
        form_for(app, recurrence="weekly", recurrence_count="3", recurrence_until="2031-05-01"),
        "recurrence_until",
        "not both",
    )
    refused(
        form_for(app, recurrence="weekly", recurrence_until="2031-03-01"),
        "recurrence_until",
        "cannot end before it starts",
    )
    refused(
        form_for(app, recurrence="weekly", recurrence_count="0"),
        "recurrence_count",
        "between 1 and 200",
    )
    with app.app_context():
        after = db.session.scalar(sa.select(sa.func.count()).select_from(Appointment))
    assert after == before

    # The feed and the other endpoints say what is wrong, too.
    for query, words in [
        ({}, "a date and time is required"),
        ({"start": "soon", "end": "2031-03-05"}, "is not a date and time"),
        ({"start": "2031-03-05", "end": "2031-03-04"}, "end must be after start"),
        ({"start": "2030-01-01", "end": "2032-01-01"}, "at most 400 days"),
        ({"start": "2031-03-04", "end": "2031-03-05", "clinician_id": "me"}, "whole number"),
    ]:
        response = clinician.get("/calendar/events", query_string=query)
        assert response.status_code == 400
        assert words in response.get_json()["error"]
    assert clinician.get("/calendar/appointments/new?start=noon").status_code == 400
    pk = add_appointment(app, recurrence="weekly", recurrence_count=3)
    assert clinician.get(f"/calendar/appointments/{pk}?occurrence=yesterday").status_code == 400
    assert clinician.get(
        f"/calendar/appointments/{pk}?occurrence=20310305T100000Z"
    ).status_code == (404)
    assert clinician.get("/calendar/appointments/999999").status_code == 404
    assert clinician.get("/calendar/?date=03/04/2031").status_code == 400


# --- recurring series and overlaps -------------------------------------------------------------


def test_recurring_series_are_expanded(app: Flask, clinician: FlaskClient) -> None:
    weekly = clinician.post(
        "/calendar/appointments/",
        data=form_for(app, recurrence="weekly", recurrence_count="4", status="Confirmed"),
    )
    assert weekly.status_code == 303
    with app.app_context():
        series_id = db.session.scalar(sa.select(sa.func.max(Appointment.id)))
    feed = events(clinician, "2031-03-01T00:00", "2031-05-01T00:00")
    mine = [e for e in feed if e["extendedProps"]["appointment_id"] == series_id]
    assert [e["start"] for e in mine] == [
        "2031-03-04T10:00",
        "2031-03-11T10:00",
        "2031-03-18T10:00",
        "2031-03-25T10:00",
    ]
    assert [e["extendedProps"]["status"] for e in mine] == ["Confirmed"] + ["Scheduled"] * 3
    assert all(e["extendedProps"]["recurring"] for e in mine)
    assert mine[0]["id"] == str(series_id)
    assert mine[1]["id"] == f"{series_id}@20310311T100000Z"
    assert mine[1]["url"] == f"/calendar/appointments/{series_id}?occurrence=20310311T100000Z"

    # A window in the middle of the series sees only its occurrences.
    middle = events(clinician, "2031-03-15T00:00", "2031-03-20T00:00")
    assert [e["start"] for e in middle] == ["2031-03-18T10:00"]

    # Opening one occurrence shows it; saving it alone detaches it from the series.
    page = clinician.get(mine[2]["url"])
    assert page.status_code == 200 and 'value="2031-03-18T10:00"' in page.text
    assert "one occurrence of a repeating appointment" in page.text
    detached = clinician.post(
        f"/calendar/appointments/{series_id}",
        data=form_for(
            app,
            occurrence="20310318T100000Z",
            scope="occurrence",
            start="2031-03-18T15:00",
            end="2031-03-18T15:50",
            status="Cancelled",
        ),
    )
    assert detached.status_code == 303
    feed = events(clinician, "2031-03-01T00:00", "2031-05-01T00:00")
    shown = sorted((e["start"], e["extendedProps"]["status"]) for e in feed)
    assert shown == [
        ("2031-03-04T10:00", "Confirmed"),
        ("2031-03-11T10:00", "Scheduled"),
        ("2031-03-18T15:00", "Cancelled"),
        ("2031-03-25T10:00", "Scheduled"),
    ]
    assert audit_actions(app, "calendar.occurrence_detached")

    # Editing every occurrence from one of them moves the whole series.
    moved = clinician.post(
        f"/calendar/appointments/{series_id}",
        data=form_for(
            app,
            occurrence="20310311T100000Z",
            scope="series",
            start="2031-03-11T11:00",
            end="2031-03-11T12:00",
            status="Scheduled",
        ),
    )
    assert moved.status_code == 303
    feed = events(clinician, "2031-03-01T00:00", "2031-05-01T00:00")
    assert sorted((e["start"], e["end"][11:]) for e in feed) == [
        ("2031-03-04T11:00", "12:00"),
        ("2031-03-11T11:00", "12:00"),
        ("2031-03-18T11:00", "12:00"),  # the detached one was at 10:00: no longer replaced
        ("2031-03-18T15:00", "15:50"),
        ("2031-03-25T11:00", "12:00"),
    ]
    with app.app_context():
        assert db.session.get(Appointment, series_id).status == "Confirmed"

    # Starting a session from a later occurrence confirms that occurrence alone.
    key = "20310325T110000Z"
    refused = clinician.post(f"/calendar/appointments/{series_id}/start?occurrence={key}")
    assert refused.status_code == 409 and "The status is Scheduled" in refused.text
    started = clinician.post(
        f"/calendar/appointments/{series_id}/start",
        data=form_for(
            app,
            occurrence=key,
            start="2031-03-25T11:00",
            end="2031-03-25T12:00",
            status="Checked-In",
        ),
    )
    assert started.status_code == 303
    with app.app_context():
        child = db.session.scalar(
            sa.select(Appointment).where(
                Appointment.original_start == at(11, day=DAY) + dt.timedelta(days=21)
            )
        )
        assert child is not None and child.series_id == series_id
        assert child.status == "Checked-In"
        child_id = child.id
    ticket = parse_qs(urlsplit(started.headers["Location"]).query)["ticket"][0]
    with app.app_context():
        from itsdangerous import URLSafeTimedSerializer

        claims = URLSafeTimedSerializer(str(app.secret_key), salt="calendar.start").loads(ticket)
    assert claims["reference"] == f"calendar:{child_id}"


def test_biweekly_until_and_monthly_skip_missing_days(app: Flask, clinician: FlaskClient) -> None:
    biweekly = add_appointment(
        app,
        recurrence="biweekly",
        recurrence_until=dt.date(2031, 4, 15),
        client_id=client_id(app, "Devon"),
    )
    monthly = add_appointment(
        app,
        start_at=dt.datetime(2031, 1, 31, 16, 0),
        end_at=dt.datetime(2031, 1, 31, 16, 50),
        recurrence="monthly",
        recurrence_count=4,
        client_id=client_id(app, "Emery"),
    )
    feed = events(clinician, "2031-01-01T00:00", "2031-12-31T00:00")
    starts = {
        pk: [e["start"][:10] for e in feed if e["extendedProps"]["appointment_id"] == pk]
        for pk in (biweekly, monthly)
    }
    assert starts[biweekly] == ["2031-03-04", "2031-03-18", "2031-04-01", "2031-04-15"]
    # No 31 February, April or June: RFC 5545 skips them and they do not count.
    assert starts[monthly] == ["2031-01-31", "2031-03-31", "2031-05-31", "2031-07-31"]


def test_series_keep_their_wall_clock_time_across_dst(make_app: Callable[..., Flask]) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, PRACTICE_TIMEZONE="America/New_York")
    client = app.test_client()
    login(client, "clinician1")
    created = client.post(
        "/calendar/appointments/",
        data=form_for(
            app,
            start="2031-03-04T10:00",
            end="2031-03-04T10:50",
            recurrence="weekly",
            recurrence_count="3",
        ),
    )
    assert created.status_code == 303
    with app.app_context():
        row = db.session.scalar(sa.select(Appointment).order_by(Appointment.id.desc()).limit(1))
        assert row.start_at == dt.datetime(2031, 3, 4, 15, 0)  # EST: UTC-5
    feed = events(client, "2031-03-01T00:00", "2031-03-31T00:00")
    assert [e["start"] for e in feed] == [
        "2031-03-04T10:00",
        "2031-03-11T10:00",  # DST began on 9 March: still 10:00 in New York
        "2031-03-18T10:00",
    ]
    assert [e["extendedProps"]["start_utc"] for e in feed] == [
        "2031-03-04T15:00:00Z",
        "2031-03-11T14:00:00Z",
        "2031-03-18T14:00:00Z",
    ]


def test_overlapping_appointments_of_one_clinician_are_flagged(
    app: Flask, clinician: FlaskClient
) -> None:
    first = add_appointment(app, start_at=at(9), end_at=at(10))
    second = add_appointment(
        app, start_at=at(9, 30), end_at=at(10, 30), client_id=client_id(app, "Brooke")
    )
    touching = add_appointment(
        app, start_at=at(10, 30), end_at=at(11), client_id=client_id(app, "Devon")
    )
    other_clinician = add_appointment(
        app, start_at=at(9), end_at=at(10), clinician_id=user_id(app, "clinician2")
    )
    cancelled = add_appointment(app, start_at=at(12), end_at=at(13), status="Cancelled")
    over_cancelled = add_appointment(app, start_at=at(12, 15), end_at=at(12, 45))
    series = add_appointment(
        app,
        start_at=at(16) - dt.timedelta(days=7),
        end_at=at(17) - dt.timedelta(days=7),
        recurrence="weekly",
        recurrence_count=3,
    )
    on_series = add_appointment(app, start_at=at(16, 30), end_at=at(17, 30))

    feed = events(clinician, "2031-03-04T00:00", "2031-03-05T00:00")
    flags = {
        (e["extendedProps"]["appointment_id"], e["extendedProps"]["occurrence"]): e for e in feed
    }

    def flagged(pk: int, key: str | None = None) -> bool:
        return bool(flags[(pk, key)]["extendedProps"]["overlap"])

    assert flagged(first) and flagged(second)
    assert "cal-overlap" in flags[(first, None)]["classNames"]
    assert flags[(first, None)]["extendedProps"]["overlaps_with"] == [second]
    assert not flagged(touching)  # ends meet: no overlap
    assert not flagged(other_clinician)
    assert not flagged(cancelled) and not flagged(over_cancelled)
    assert flagged(series, "20310304T160000Z") and flagged(on_series)
    only_two = events(
        clinician,
        "2031-03-04T00:00",
        "2031-03-05T00:00",
        clinician_id=user_id(app, "clinician2"),
    )
    assert [e["extendedProps"]["appointment_id"] for e in only_two] == [other_clinician]

    page = clinician.get(f"/calendar/appointments/{first}")
    assert 'id="cal-overlaps"' in page.text and "Brooke Chen" in page.text
    created = clinician.post(
        "/calendar/appointments/",
        data=form_for(app, start="2031-03-04T09:45", end="2031-03-04T10:15"),
        follow_redirects=True,
    )
    assert "This appointment overlaps another of Casey Morgan" in created.text


# --- iCalendar -----------------------------------------------------------------------------


def unfold(document: str) -> list[str]:
    assert document.endswith("\r\n")
    physical = document[:-2].split("\r\n")
    assert "\n" not in document.replace("\r\n", ""), "bare LF in the document"
    for line in physical:
        assert len(line.encode("utf-8")) <= 75, f"line longer than 75 octets: {line!r}"
    logical: list[str] = []
    for line in physical:
        if line.startswith(" "):
            logical[-1] += line[1:]
        else:
            logical.append(line)
    return logical


def assert_valid_ics(document: str) -> list[dict[str, str]]:
    """RFC 5545 structure: CRLF, folding, nesting, the required properties, UTC times."""
    lines = unfold(document)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines and any(line.startswith("PRODID:") for line in lines)
    stack: list[str] = []
    found: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        assert re.fullmatch(r"[A-Z-]+(;[^:]*)?", name), line
        if name == "BEGIN":
            stack.append(value)
            current = {}
        elif name == "END":
            assert stack.pop() == value
            if value == "VEVENT":
                found.append(current)
        elif stack and stack[-1] == "VEVENT":
            assert name not in current, f"{name} twice in one event"
            current[name] = value
    assert stack == []
    utc = re.compile(r"\d{8}T\d{6}Z")
    for event in found:
        for required in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
            assert required in event, (required, event)
        for key in ("DTSTAMP", "DTSTART", "DTEND"):
            assert utc.fullmatch(event[key]), event[key]
        assert event["DTEND"] > event["DTSTART"]
    assert len({e["UID"] for e in found}) == len(found), "UIDs must be unique"
    return found


def test_ics_unit_folding_and_escaping() -> None:
    text = "Ünïcödé; commas, backslash\\ and\nnewlines " + "é" * 60
    document = ics.calendar(
        "Dr. Müller",
        [
            ics.IcsEvent(
                uid="x@host",
                start=dt.datetime(2031, 1, 1, 9),
                end=dt.datetime(2031, 1, 1, 10),
                summary=text,
            )
        ],
        now=dt.datetime(2031, 1, 1),
    )
    (event,) = assert_valid_ics(document)
    assert event["SUMMARY"] == ics.escape_text(text)
    assert "\\;" in event["SUMMARY"] and "\\," in event["SUMMARY"] and "\\n" in event["SUMMARY"]
    assert "\\\\" in event["SUMMARY"]
    document.encode("utf-8")  # folding never split a character


def test_ics_feeds_per_clinician(app: Flask, clinician: FlaskClient) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, second=0, microsecond=0)
    soon = now + dt.timedelta(days=3)
    single = add_appointment(
        app, start_at=soon, end_at=soon + dt.timedelta(minutes=50), status="Confirmed"
    )
    series = add_appointment(
        app,
        start_at=soon + dt.timedelta(hours=2),
        end_at=soon + dt.timedelta(hours=3),
        recurrence="weekly",
        recurrence_count=3,
        client_id=client_id(app, "Brooke"),
        contact_type="In person",
        status="Cancelled",
    )
    someone_else = add_appointment(
        app,
        start_at=soon,
        end_at=soon + dt.timedelta(hours=1),
        clinician_id=user_id(app, "clinician2"),
    )
    me = user_id(app, "clinician1")
    response = clinician.get(f"/calendar/ics/{me}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    found = assert_valid_ics(response.text)
    ours = [e for e in found if re.match(rf"calendar-({single}|{series})[-@]", e["UID"])]
    assert len(ours) == 4  # the single one and three occurrences of the series
    by_uid = {e["UID"].split("@")[0]: e for e in ours}
    assert by_uid[f"calendar-{single}"]["DTSTART"] == soon.strftime("%Y%m%dT%H%M%SZ")
    assert by_uid[f"calendar-{single}"]["SUMMARY"] == "Telehealth: Alex Rivera"
    assert by_uid[f"calendar-{single}"]["STATUS"] == "CONFIRMED"
    assert by_uid[f"calendar-{series}"]["STATUS"] == "CANCELLED"
    assert not any(e["UID"].startswith(f"calendar-{someone_else}@") for e in found)
    assert audit_actions(app, "calendar.ics_viewed")[-1].target == f"user:{me}"
    assert clinician.get("/calendar/ics/999999.ics").status_code == 404

    # A secret subscription link for calendar apps: shown once, only a hash is kept.
    made = clinician.post("/calendar/feed-link", headers={"Accept": "application/json"})
    url = made.get_json()["url"]
    key = re.fullmatch(r"http://localhost/calendar/feed/([A-Za-z0-9_-]{43})\.ics", url)
    assert key, url
    with app.app_context():
        row = db.session.get(CalendarFeedKey, me)
        assert row is not None and key.group(1) not in row.key_hash
    anonymous = app.test_client()
    subscribed = anonymous.get(f"/calendar/feed/{key.group(1)}.ics")
    assert subscribed.status_code == 200
    outside = assert_valid_ics(subscribed.text)
    assert any(e["SUMMARY"] == "Telehealth: A.R." for e in outside)  # initials only
    assert "Alex" not in subscribed.text and "Rivera" not in subscribed.text
    assert anonymous.get(f"/calendar/feed/{'x' * 43}.ics").status_code == 404
    assert anonymous.get(f"/calendar/ics/{me}.ics").status_code in {302, 401}

    # A new link replaces the old one.
    clinician.post("/calendar/feed-link", headers={"Accept": "application/json"})
    assert anonymous.get(f"/calendar/feed/{key.group(1)}.ics").status_code == 404
    page = clinician.post("/calendar/feed-link")
    assert page.status_code == 200 and 'id="cal-feed-url"' in page.text


# --- one commit per request ------------------------------------------------------------------


def spy_on_announcements(monkeypatch: pytest.MonkeyPatch, commits: Commits) -> None:
    """Note how many commits had gone when the calendar announced a change."""
    monkeypatch.setattr(calendar_events, "notify", commits.spy("notify"))
    monkeypatch.setattr(calendar_events, "emit_domain_event", commits.spy("event"))


def test_creating_an_appointment_is_one_commit_announced_after_it(
    app: Flask, clinician: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = form_for(app)
    with count_commits(engine_of(app)) as commits:
        spy_on_announcements(monkeypatch, commits)
        created = clinician.post("/calendar/appointments/", data=data)
    assert created.status_code == 303, created.text
    assert commits.count == 1
    assert commits.calls == [("notify", 1), ("event", 1)]
    (entry,) = audit_actions(app, "calendar.appointment_created")
    with app.app_context():
        newest = db.session.scalar(sa.select(sa.func.max(Appointment.id)))
    assert entry.target == f"appointment:{newest}"


def test_saving_and_starting_an_appointment_are_one_commit_each(
    app: Flask, clinician: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    pk = add_appointment(app)
    changed, confirmed = form_for(app, notes="Moved to Room 2"), form_for(app, status="Confirmed")
    with count_commits(engine_of(app)) as saving:
        spy_on_announcements(monkeypatch, saving)
        saved = clinician.post(f"/calendar/appointments/{pk}", data=changed)
    assert saved.status_code == 303, saved.text
    assert saving.count == 1 and saving.calls == [("notify", 1), ("event", 1)]
    assert audit_actions(app, "calendar.appointment_updated")[-1].target == f"appointment:{pk}"

    with count_commits(engine_of(app)) as starting:
        spy_on_announcements(monkeypatch, starting)
        started = clinician.post(f"/calendar/appointments/{pk}/start", data=confirmed)
    assert started.status_code == 303, started.text
    assert starting.count == 1 and starting.calls == [("notify", 1), ("event", 1)]
    assert len(audit_actions(app, "calendar.appointment_updated")) == 2
    assert audit_actions(app, "calendar.telehealth_started")[-1].target == f"appointment:{pk}"


def test_reading_appointments_commits_the_audit_row_of_each_read(
    app: Flask, clinician: FlaskClient
) -> None:
    pk = add_appointment(app)
    me = user_id(app, "clinician1")
    reads = {
        "calendar.viewed": "/calendar/events?start=2031-03-04T00:00:00Z&end=2031-03-05T00:00:00Z",
        "calendar.appointment_viewed": f"/calendar/appointments/{pk}",
        "calendar.ics_viewed": f"/calendar/ics/{me}.ics",
    }
    for action, url in reads.items():
        with count_commits(engine_of(app)) as commits:
            assert clinician.get(url).status_code == 200, url
        assert commits.count == 1, url
        assert len(audit_actions(app, action)) == 1, action


# --- the rule's unit, time zones ---------------------------------------------------------------


def test_schedule_units() -> None:
    assert schedule.telehealth_refusal("Telehealth", "Confirmed", enabled=True) is None
    assert schedule.telehealth_refusal("Telehealth", "Confirmed", enabled=False) == (
        "Telehealth is not enabled for this practice."
    )
    tz = ZoneInfo("Europe/Berlin")
    assert schedule.parse_datetime("2031-03-04T10:00", tz) == dt.datetime(2031, 3, 4, 9, 0)
    assert schedule.parse_datetime("2031-03-04T10:00Z", tz) == dt.datetime(2031, 3, 4, 10, 0)
    assert schedule.parse_datetime("2031-03-04T10:00+02:00", tz) == dt.datetime(2031, 3, 4, 8)
    with pytest.raises(ValueError, match="is not a date and time"):
        schedule.parse_datetime("2031-13-01T00:00", tz)
    key = schedule.occurrence_key(dt.datetime(2031, 3, 4, 10))
    assert key == "20310304T100000Z"
    assert schedule.parse_occurrence_key(key) == dt.datetime(2031, 3, 4, 10)
