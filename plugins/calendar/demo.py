"""The Calendar's share of the demo practice: today's appointments."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import func, select

from core.api import Client, db_session
from plugins.calendar.models import Appointment, utcnow
from plugins.calendar.schedule import practice_tz

# (client first name, clinician, local start hour, minutes, contact type, status, repeat)
TODAY = (
    ("Alex", "clinician1", 9, 0, "Telehealth", "Confirmed", "none"),
    ("Brooke", "clinician1", 10, 0, "Telehealth", "Checked-In", "none"),
    ("Devon", "clinician1", 11, 0, "Telehealth", "Confirmed", "none"),
    ("Emery", "clinician1", 13, 0, "In person", "Scheduled", "none"),
    ("Devon", "clinician2", 9, 30, "Telehealth", "Checked-In", "none"),
    ("Emery", "clinician2", 11, 0, "Telehealth", "Confirmed", "none"),
    ("Brooke", "clinician2", 14, 0, "Telehealth", "Scheduled", "weekly"),
    ("Alex", "clinician2", 15, 0, "Phone", "Scheduled", "none"),
)


def seed() -> None:
    """Add today's appointments once (nothing when any appointment exists)."""
    session = db_session()
    if session.scalar(select(func.count()).select_from(Appointment)):
        return
    sm = current_app.extensions["appbuilder"].sm
    tz = practice_tz()
    today = dt.datetime.now(tz).date()
    minutes = int(current_app.config["CALENDAR_DEFAULT_MINUTES"])
    clients = {c.first_name: c for c in session.scalars(select(Client))}
    for first, username, hour, minute, contact, status, repeat in TODAY:
        client, user = clients.get(first), sm.find_user(username=username)
        if client is None or user is None:
            continue
        start = dt.datetime.combine(today, dt.time(hour, minute), tzinfo=tz)
        start_utc = start.astimezone(dt.UTC).replace(tzinfo=None)
        session.add(
            Appointment(
                client_id=client.id,
                clinician_id=user.id,
                start_at=start_utc,
                end_at=start_utc + dt.timedelta(minutes=minutes),
                contact_type=contact,
                status=status,
                notes="",
                recurrence=repeat,
                recurrence_count=8 if repeat != "none" else None,
                created_by="demo",
                updated_by="demo",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    session.commit()
