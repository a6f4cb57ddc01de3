"""The waiting room's past as domain events, for a listener added later (reporting's
backfill): what ``patient.*`` events would have said about each visit already held.

Only what the rows keep can be told: one admission (the first), the last transfer, how
the visit ended and its copay. Send-backs in between leave no trace in the row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from core.api import DomainEvent, db_session
from plugins.waiting_room.models import (
    ADMITTED,
    COMPLETED,
    LEFT,
    NO_SHOW,
    REMOVED,
    WAITING,
    WaitingEntry,
)
from plugins.waiting_room.room import SOURCE, domain_payload, iso

BATCH = 1000


def _event(name: str, entry: WaitingEntry, at: Any, **extra: Any) -> DomainEvent:
    return DomainEvent(name, domain_payload(entry, at=iso(at), **extra), source=SOURCE)


def entry_events(entry: WaitingEntry) -> list[DomainEvent]:
    """The events of one visit, in the order they happened."""
    events = [_event("patient.arrived", entry, entry.arrived_at, status=WAITING)]
    if entry.first_admitted_at is not None:
        events.append(
            _event(
                "patient.admitted",
                entry,
                entry.first_admitted_at,
                status=ADMITTED,
                admitted_at=iso(entry.first_admitted_at),
                admitted_by=entry.admitted_by_id,
            )
        )
    if entry.transferred_at is not None:
        events.append(
            _event(
                "patient.transferred",
                entry,
                entry.transferred_at,
                from_provider_id=None,
                to_provider_id=entry.provider_id,
                transferred_by=entry.transferred_by_id,
            )
        )
    if entry.copay_status == "collected" or entry.copay_cents is not None:
        events.append(
            _event(
                "patient.copay_updated",
                entry,
                entry.copay_collected_at or entry.arrived_at,
                by=entry.copay_collected_by_id,
                method=None,
            )
        )
    end = entry.ended_at or entry.left_at
    if entry.status == LEFT:
        events.append(_event("patient.left", entry, end, reason="patient_left"))
    elif entry.status in (REMOVED, NO_SHOW):
        reason = "no_show" if entry.status == NO_SHOW else "removed"
        events.append(_event("patient.removed", entry, end, reason=reason, by=entry.ended_by_id))
    elif entry.status == COMPLETED:
        events.append(_event("patient.completed", entry, end))
    return sorted(events, key=lambda e: e.payload["at"] or "")


def history_events() -> Iterator[DomainEvent]:
    """Every visit's events, visit by visit in order of arrival, read in batches."""
    query = select(WaitingEntry).order_by(WaitingEntry.arrived_at, WaitingEntry.id)
    for entry in db_session().scalars(query.execution_options(yield_per=BATCH)):
        yield from entry_events(entry)
