"""A small RFC 5545 (iCalendar) writer for the per-clinician feed.

Lines end in CRLF, long lines are folded at 75 octets (never inside a UTF-8 sequence),
text values are escaped, and every time is UTC (``...Z``). Recurring series are written
as one VEVENT per occurrence, exactly as the calendar shows them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

PRODID = "-//Telehealth Back Office//Calendar plugin//EN"
STATUS = {
    "Scheduled": "TENTATIVE",
    "Confirmed": "CONFIRMED",
    "Checked-In": "CONFIRMED",
    "Occurred": "CONFIRMED",
    "No-show": "CONFIRMED",
    "Cancelled": "CANCELLED",
}


@dataclass(frozen=True)
class IcsEvent:
    uid: str
    start: dt.datetime  # naive UTC
    end: dt.datetime
    summary: str
    description: str = ""
    location: str = ""
    status: str = "Scheduled"
    categories: tuple[str, ...] = ()
    last_modified: dt.datetime | None = None
    url: str = ""


def escape_text(value: str) -> str:
    """TEXT escaping of RFC 5545 §3.3.11."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """Fold a content line into chunks of at most 75 octets (§3.1)."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    limit = 75
    while raw:
        cut = min(limit, len(raw))
        while cut < len(raw) and (raw[cut] & 0xC0) == 0x80:  # not inside a UTF-8 sequence
            cut -= 1
        parts.append(raw[:cut].decode("utf-8"))
        raw = raw[cut:]
        limit = 74  # continuation lines start with a space
    return "\r\n ".join(parts)


def utc(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def calendar(name: str, events: Iterable[IcsEvent], *, now: dt.datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"DTSTAMP:{utc(now)}",
            f"DTSTART:{utc(event.start)}",
            f"DTEND:{utc(event.end)}",
            f"SUMMARY:{escape_text(event.summary)}",
            f"STATUS:{STATUS.get(event.status, 'CONFIRMED')}",
        ]
        if event.description:
            lines.append(f"DESCRIPTION:{escape_text(event.description)}")
        if event.location:
            lines.append(f"LOCATION:{escape_text(event.location)}")
        if event.categories:
            lines.append("CATEGORIES:" + ",".join(escape_text(c) for c in event.categories))
        if event.last_modified is not None:
            lines.append(f"LAST-MODIFIED:{utc(event.last_modified)}")
        if event.url:
            lines.append(f"URL:{event.url}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
