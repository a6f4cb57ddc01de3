"""What the Calendar announces: open calendars refresh when an appointment changes.

The Calendar handles no Socket.IO events of its own; it only notifies. The payload holds
ids, never names (every staff page receives it).
"""

from __future__ import annotations

from core.api import emit_domain_event, notify

SOURCE = "calendar"


def announce_change(appointment_id: int, what: str) -> None:
    """Tell open calendars to refetch, and other plugins that an appointment changed.

    Domain events: ``calendar.appointment_created`` / ``calendar.appointment_updated``
    with ``{"appointment_id": int}``.
    """
    notify("calendar.changed", {"appointment_id": appointment_id, "change": what}, room="staff")
    emit_domain_event(
        f"calendar.appointment_{what}", {"appointment_id": appointment_id}, source=SOURCE
    )
