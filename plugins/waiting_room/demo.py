"""The waiting room's share of the demo practice: two patients waiting for clinician1."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import func, select

from core.api import Client, create_invite, db_session
from plugins.waiting_room.models import WAITING, WaitingEntry, utcnow
from plugins.waiting_room.room import SOURCE, bump


def seed() -> None:
    session = db_session()
    if session.scalar(select(func.count()).select_from(WaitingEntry)):
        return  # already seeded, or a practice with real visits
    clinician = current_app.extensions["appbuilder"].sm.find_user(username="clinician1")
    clients = list(session.scalars(select(Client).order_by(Client.id).limit(2)))
    if clinician is None or len(clients) < 2:
        return
    now = utcnow()
    starts = (now + dt.timedelta(minutes=5)).replace(second=0, microsecond=0)
    quickvite = create_invite(
        "quickvite", source=SOURCE, client_id=clients[0].id, provider_id=clinician.id
    ).invite
    appointment = create_invite(
        "appointment",
        source=SOURCE,
        client_id=clients[1].id,
        provider_id=clinician.id,
        reference=f"demo-appointment@{starts.isoformat()}",
    ).invite
    rows = [
        (quickvite, clients[0], 7, None, "due", 2500, "ok"),
        (appointment, clients[1], 3, starts, "not_required", None, "pending"),
    ]
    for invite, client, minutes, appointment_at, copay, cents, device in rows:
        arrived = now - dt.timedelta(minutes=minutes)
        session.add(
            WaitingEntry(
                status=WAITING,
                live_key=f"invite:{invite.id}",
                invite_id=invite.id,
                invite_kind=invite.kind,
                client_id=client.id,
                provider_id=clinician.id,
                display_name=client.full_name,
                identity="not_checked",
                appointment_at=appointment_at,
                arrived_at=arrived,
                waiting_since=arrived,
                copay_status=copay,
                copay_cents=cents,
                device_status=device,
                device_details={"camera": True, "microphone": True, "latency_ms": 42.0}
                if device == "ok"
                else None,
                device_checked_at=arrived if device == "ok" else None,
                # Never seen by a page: the grace period leaves demo patients alone.
                last_seen_at=None,
            )
        )
    session.flush()
    version = bump()
    for entry in session.scalars(select(WaitingEntry)):
        entry.version = version
    session.commit()
