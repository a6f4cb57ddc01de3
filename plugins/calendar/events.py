"""What the Calendar announces: open calendars refresh when an appointment changes.

The Calendar handles no Socket.IO events of its own; it only notifies. The payload holds
ids, never names (every staff page receives it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from core.api import DomainEvent, db_session, emit_domain_event, emit_on_commit, notify
from plugins.calendar.models import CANCELLED, Appointment

SOURCE = "calendar"
BATCH = 1000


def announce_change(appointment_id: int, what: str) -> None:
    """Tell open calendars to refetch, and other plugins that an appointment changed.

    Domain events: ``calendar.appointment_created`` / ``calendar.appointment_updated``
    with ``{"appointment_id": int}``.
    """
    notify("calendar.changed", {"appointment_id": appointment_id, "change": what}, room="staff")
    emit_domain_event(
        f"calendar.appointment_{what}", {"appointment_id": appointment_id}, source=SOURCE
    )


def _utc(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


def cancelled_payload(appointment: Appointment, **extra: Any) -> dict[str, Any]:
    """What ``calendar.appointment_cancelled`` tells: ids and the start, no names."""
    return {
        "appointment_id": appointment.id,
        "client_id": appointment.client_id,
        "provider_id": appointment.clinician_id,
        "starts_at": _utc(appointment.start_at),
        "telehealth": appointment.contact_type == "Telehealth",
        **extra,
    }


def emit_status_change(appointment: Appointment, was: str | None) -> None:
    """Before the commit: a cancellation, or the undoing of one, goes out with the change
    so that what other plugins record of it (Reporting's visits) is the same commit.

    ``was`` is the status before the change (``None`` for a new appointment); an
    appointment that stays Cancelled is not announced again.
    """
    if appointment.status == CANCELLED and was != CANCELLED:
        emit_on_commit(
            "calendar.appointment_cancelled", cancelled_payload(appointment), source=SOURCE
        )
    elif was == CANCELLED and appointment.status != CANCELLED:
        emit_on_commit(
            "calendar.appointment_reinstated",
            {"appointment_id": appointment.id, "status": appointment.status},
            source=SOURCE,
        )


def history_events() -> Iterator[DomainEvent]:
    """The cancellations the calendar holds, for a listener added later (Reporting's
    backfill), oldest change first. Only the row's last change is remembered, so ``at``
    is when the cancelled appointment was last saved."""
    query = (
        select(Appointment)
        .where(Appointment.status == CANCELLED)
        .order_by(Appointment.updated_at, Appointment.id)
        .execution_options(yield_per=BATCH)
    )
    for appointment in db_session().scalars(query):
        payload = cancelled_payload(appointment, at=_utc(appointment.updated_at))
        yield DomainEvent("calendar.appointment_cancelled", payload, source=SOURCE)
