"""The calendar's rules: time zones, recurring series, overlaps and the telehealth rule.

Everything here is plain logic over :class:`Appointment` rows, shared by the pages, the
JSON feed and the iCalendar feed, so that they always agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from core.api import practice_timezone, setting
from plugins.calendar.models import FREE_STATUSES, TELEHEALTH_STATUSES, Appointment

#: A series with neither a count nor an end date (old data) stops after this many steps.
MAX_STEPS = 1000
KEY_FORMAT = "%Y%m%dT%H%M%SZ"
#: The years the calendar deals in. Far outside them there is no practice to schedule, and
#: near datetime's own limits (years 1 and 9999) the time-zone arithmetic overflows.
FIRST_YEAR, LAST_YEAR = 1900, 2999


# --- time zones --------------------------------------------------------------------------


def practice_tz() -> ZoneInfo:
    """The practice's time zone (the host's ``PRACTICE_TIMEZONE``, checked at boot)."""
    zone: ZoneInfo = practice_timezone()
    return zone


def to_local(moment: dt.datetime, tz: ZoneInfo | None = None) -> dt.datetime:
    """A naive UTC datetime as an aware one in the practice's time zone."""
    return moment.replace(tzinfo=dt.UTC).astimezone(tz or practice_tz())


def wall(moment: dt.datetime, tz: ZoneInfo | None = None) -> str:
    """Naive UTC → the practice's wall-clock time, ISO without offset (the widget's format)."""
    return to_local(moment, tz).replace(tzinfo=None).isoformat(timespec="minutes")


def shown(value: object, limit: int = 40) -> str:
    """A value quoted in an error message, cut short: the input may be a 100 kB string."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def parse_datetime(text: str, tz: ZoneInfo | None = None) -> dt.datetime:
    """ISO 8601 → naive UTC. Without an offset the time is in the practice's time zone."""
    raw = (text or "").strip()
    if not raw:
        raise ValueError("a date and time is required")
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{shown(raw)} is not a date and time (use YYYY-MM-DDTHH:MM)") from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"{shown(raw)} is not between the years {FIRST_YEAR} and {LAST_YEAR}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz or practice_tz())
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def occurrence_key(start: dt.datetime) -> str:
    return start.strftime(KEY_FORMAT)


def parse_occurrence_key(key: object) -> dt.datetime:
    """The start an occurrence key names; ``ValueError`` for anything else (a JSON body
    may carry a number or an object where the key belongs)."""
    try:
        if not isinstance(key, str):
            raise ValueError(key)
        return dt.datetime.strptime(key, KEY_FORMAT)
    except ValueError:
        raise ValueError(
            f"{shown(key)} is not an occurrence (expected e.g. 20260310T150000Z)"
        ) from None


def label(start: dt.datetime, end: dt.datetime, tz: ZoneInfo | None = None) -> str:
    """'Tuesday 10 March 2026, 10:00–10:50 (America/New_York)' in the practice's zone."""
    zone = tz or practice_tz()
    first, last = to_local(start, zone), to_local(end, zone)
    return (
        f"{first.strftime('%A')} {first.day} {first.strftime('%B %Y, %H:%M')}"
        f"\u2013{last.strftime('%H:%M')} ({zone.key})"
    )


# --- the telehealth rule -------------------------------------------------------------------


def telehealth_refusal(contact_type: str, status: str, enabled: bool | None = None) -> str | None:
    """Why a telehealth session cannot be started, or ``None`` when it can."""
    if enabled is None:
        enabled = bool(setting("TELEHEALTH_ENABLED"))
    if not enabled:
        return "Telehealth is not enabled for this practice."
    if contact_type != "Telehealth":
        return (
            f"The contact type is {contact_type}: set it to Telehealth to start a "
            "telehealth session."
        )
    if status not in TELEHEALTH_STATUSES:
        return (
            f"The status is {status}: set it to Confirmed, Checked-In or Occurred to start "
            "a telehealth session."
        )
    return None


#: Statuses in which a patient may still join an appointment's waiting room.
JOINABLE_STATUSES = ("Scheduled", "Confirmed", "Checked-In")


def join_refusal(
    contact_type: str,
    status: str,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    minutes_before: int,
) -> str | None:
    """Why a patient cannot join an appointment from the portal now, or ``None``."""
    if contact_type != "Telehealth":
        return f"This appointment is not by telehealth ({contact_type.lower()})."
    if status not in JOINABLE_STATUSES:
        return f"This appointment is {status.lower()}."
    if now >= end:
        return "This appointment is over."
    if now < start - dt.timedelta(minutes=minutes_before):
        return f"You can join from {minutes_before} minutes before the start."
    return None


# --- recurring series ----------------------------------------------------------------------


def _shift(start: dt.datetime, recurrence: str, step: int) -> dt.datetime | None:
    """The ``step``-th candidate of a series in wall-clock time; ``None`` when that date
    does not exist (the 31st in a shorter month), which RFC 5545 skips too."""
    if recurrence == "weekly":
        return start + dt.timedelta(weeks=step)
    if recurrence == "biweekly":
        return start + dt.timedelta(weeks=2 * step)
    if recurrence == "monthly":
        month0 = start.month - 1 + step
        year, month = start.year + month0 // 12, month0 % 12 + 1
        try:
            return start.replace(year=year, month=month)
        except ValueError:
            return None
    return start if step == 0 else None


def series_starts(
    appointment: Appointment, until: dt.datetime, tz: ZoneInfo | None = None
) -> Iterator[tuple[int, dt.datetime]]:
    """``(index, naive UTC start)`` of each occurrence that starts before ``until``.

    Occurrences keep their wall-clock time in the practice's zone across DST changes.
    """
    zone = tz or practice_tz()
    first = to_local(appointment.start_at, zone).replace(tzinfo=None)
    produced = 0
    for step in range(MAX_STEPS):
        candidate = _shift(first, appointment.recurrence, step)
        if candidate is None:
            if appointment.recurrence == "none":
                return
            continue
        if appointment.recurrence_until and candidate.date() > appointment.recurrence_until:
            return
        start = candidate.replace(tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)
        if start >= until:
            return
        yield produced, start
        produced += 1
        if appointment.recurrence == "none":
            return
        if appointment.recurrence_count is not None and produced >= appointment.recurrence_count:
            return


@dataclass(eq=False)
class Occurrence:
    """One appointment as it appears on the calendar."""

    appointment: Appointment
    start: dt.datetime
    end: dt.datetime
    index: int = 0
    overlaps: list[Occurrence] = field(default_factory=list)

    @property
    def virtual(self) -> bool:
        """An occurrence of a series other than its first, with no row of its own."""
        return self.index > 0

    @property
    def key(self) -> str | None:
        return occurrence_key(self.start) if self.virtual else None

    @property
    def status(self) -> str:
        # Each occurrence has its own status: those not yet edited are Scheduled.
        return "Scheduled" if self.virtual else self.appointment.status

    @property
    def contact_type(self) -> str:
        return self.appointment.contact_type

    @property
    def clinician_id(self) -> int:
        return self.appointment.clinician_id

    @property
    def overlap(self) -> bool:
        return bool(self.overlaps)

    @property
    def recurring(self) -> bool:
        return self.appointment.is_series or self.appointment.series_id is not None


def occurrences(
    session: Session,
    window_start: dt.datetime,
    window_end: dt.datetime,
    *,
    clinician_id: int | None = None,
    tz: ZoneInfo | None = None,
    client_id: int | None = None,
) -> list[Occurrence]:
    """Every occurrence overlapping ``[window_start, window_end)``, overlaps flagged (among
    the ones returned: with ``client_id``, only that client's)."""
    zone = tz or practice_tz()
    first_day = (window_start - dt.timedelta(days=1)).date()
    query = (
        select(Appointment)
        .options(selectinload(Appointment.client), selectinload(Appointment.clinician))
        .where(Appointment.start_at < window_end)
        .where(
            or_(
                and_(Appointment.recurrence == "none", Appointment.end_at > window_start),
                and_(
                    Appointment.recurrence != "none",
                    or_(
                        Appointment.recurrence_until.is_(None),
                        Appointment.recurrence_until >= first_day,
                    ),
                ),
            )
        )
        .order_by(Appointment.start_at, Appointment.id)
    )
    if clinician_id is not None:
        query = query.where(Appointment.clinician_id == clinician_id)
    if client_id is not None:
        query = query.where(Appointment.client_id == client_id)
    rows = list(session.scalars(query))
    found: list[Occurrence] = []
    series = [row for row in rows if row.is_series]
    detached = _detached_starts(session, [row.id for row in series])
    for row in rows:
        if not row.is_series:
            found.append(Occurrence(row, row.start_at, row.end_at))
            continue
        length = row.end_at - row.start_at
        for index, start in series_starts(row, window_end, zone):
            end = start + length
            if end <= window_start or start in detached.get(row.id, set()):
                continue
            found.append(Occurrence(row, start, end, index))
    found.sort(key=lambda o: (o.start, o.appointment.id))
    flag_overlaps(found)
    return found


def _detached_starts(session: Session, series_ids: list[int]) -> dict[int, set[dt.datetime]]:
    if not series_ids:
        return {}
    rows = session.execute(
        select(Appointment.series_id, Appointment.original_start).where(
            Appointment.series_id.in_(series_ids)
        )
    ).all()
    found: dict[int, set[dt.datetime]] = {}
    for series_id, original in rows:
        if series_id is not None and original is not None:
            found.setdefault(series_id, set()).add(original)
    return found


def flag_overlaps(items: Iterable[Occurrence]) -> None:
    """Mark occurrences of one clinician that overlap in time (cancelled ones are free)."""
    by_clinician: dict[int, list[Occurrence]] = {}
    for item in items:
        item.overlaps = []
        if item.status not in FREE_STATUSES:
            by_clinician.setdefault(item.clinician_id, []).append(item)
    for busy in by_clinician.values():
        busy.sort(key=lambda o: (o.start, o.end))
        for i, first in enumerate(busy):
            for second in busy[i + 1 :]:
                if second.start >= first.end:
                    break
                first.overlaps.append(second)
                second.overlaps.append(first)


def find_occurrence(
    session: Session, appointment: Appointment, key: str | None, tz: ZoneInfo | None = None
) -> Occurrence | None:
    """The occurrence of ``appointment`` named by ``key`` (``None``: the row itself), with
    its overlaps; ``None`` when the series has no such occurrence."""
    zone = tz or practice_tz()
    if key is None:
        start, end = appointment.start_at, appointment.end_at
        index = 0
    else:
        wanted = parse_occurrence_key(key)
        if not appointment.is_series:
            return None
        index = next(
            (
                i
                for i, s in series_starts(appointment, wanted + dt.timedelta(seconds=1), zone)
                if s == wanted
            ),
            -1,
        )
        if index < 0 or wanted in _detached_starts(session, [appointment.id]).get(
            appointment.id, set()
        ):
            return None
        start, end = wanted, wanted + (appointment.end_at - appointment.start_at)
    around = occurrences(
        session,
        start - dt.timedelta(hours=12),
        end + dt.timedelta(hours=12),
        clinician_id=appointment.clinician_id,
        tz=zone,
    )
    for item in around:
        if item.appointment.id == appointment.id and item.start == start:
            return item
    # e.g. a cancelled occurrence: present but not part of the overlap check's busy list
    return Occurrence(appointment, start, end, index)
