"""The built-in reports: each a ``ReportSpec`` whose rows come from visit records alone.

Every query filters on the indexed local date (and provider or invite kind) and groups in
the database; only the wait figures (median, 90th percentile) read one number per visit.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.sql import Select

from core.api import ReportFilters, ReportSpec, db_session, staff_members
from plugins.reporting.models import (
    COPAY_LABELS,
    INVITE_LABELS,
    LEFT_BEFORE_SEEN,
    OPEN,
    OUTCOME_LABELS,
    OUTCOMES,
    Visit,
)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
METHOD_LABELS = {"card": "Card", "cash": "Cash", "check": "Check", "other": "Other", None: "—"}


def scoped(query: Select[Any], filters: ReportFilters) -> Select[Any]:
    """The filters every report honours: local dates, provider, invite kind."""
    query = query.where(Visit.local_date >= filters.date_from, Visit.local_date <= filters.date_to)
    if filters.provider_id is not None:
        query = query.where(Visit.provider_id == filters.provider_id)
    if filters.invite_kind is not None:
        query = query.where(Visit.invite_kind == filters.invite_kind)
    return query


def _rows(query: Select[Any], filters: ReportFilters) -> list[Any]:
    return list(db_session().execute(scoped(query, filters)))


def _share(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def provider_names() -> dict[int, str]:
    return {m.id: m.name for m in staff_members()}


# --- attendance -----------------------------------------------------------------------------


def attendance(filters: ReportFilters) -> list[dict[str, Any]]:
    counts = dict(
        _rows(select(Visit.outcome, func.count()).group_by(Visit.outcome), filters)  # type: ignore[arg-type]
    )
    total = sum(counts.values())
    return [
        {
            "outcome": key,
            "label": OUTCOME_LABELS[key],
            "visits": counts.get(key, 0),
            "share": _share(counts.get(key, 0), total),
        }
        for key in OUTCOMES
        if key != OPEN or counts.get(key)
    ]


# --- session duration -----------------------------------------------------------------------


def session_duration(filters: ReportFilters) -> list[dict[str, Any]]:
    query = (
        select(
            Visit.local_date,
            func.count(),
            func.sum(Visit.session_seconds),
            func.max(Visit.session_seconds),
        )
        .where(Visit.session_seconds.is_not(None))
        .group_by(Visit.local_date)
        .order_by(Visit.local_date)
    )
    rows = []
    for day, sessions, total, longest in _rows(query, filters):
        rows.append(
            {
                "date": day.isoformat(),
                "sessions": sessions,
                "total_minutes": round((total or 0) / 60, 1),
                "average_minutes": round((total or 0) / 60 / sessions, 1),
                "longest_minutes": round((longest or 0) / 60, 1),
            }
        )
    return rows


# --- invite type ----------------------------------------------------------------------------


def invite_type(filters: ReportFilters) -> list[dict[str, Any]]:
    query = select(Visit.invite_kind, Visit.outcome, func.count()).group_by(
        Visit.invite_kind, Visit.outcome
    )
    by_kind: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, outcome, count in _rows(query, filters):
        by_kind[kind][outcome] = count
    total = sum(sum(v.values()) for v in by_kind.values())
    rows = []
    for kind in sorted(
        by_kind, key=lambda k: list(INVITE_LABELS).index(k) if k in INVITE_LABELS else 99
    ):
        visits = sum(by_kind[kind].values())
        rows.append(
            {
                "invite_kind": kind,
                "label": INVITE_LABELS.get(kind, kind),
                "visits": visits,
                "attended": by_kind[kind].get("attended", 0),
                "share": _share(visits, total),
            }
        )
    return rows


# --- copay ----------------------------------------------------------------------------------


def copay(filters: ReportFilters) -> list[dict[str, Any]]:
    query = select(
        Visit.copay_status, Visit.copay_method, func.count(), func.sum(Visit.copay_cents)
    ).group_by(Visit.copay_status, Visit.copay_method)
    order = list(COPAY_LABELS)
    rows = [
        {
            "copay_status": status,
            "copay_method": method or "none",
            "status": COPAY_LABELS.get(status, status),
            "method": METHOD_LABELS.get(method, method),
            "label": f"{COPAY_LABELS.get(status, status)} · {METHOD_LABELS.get(method, method)}",
            "visits": count,
            "amount": f"{(cents or 0) / 100:.2f}",
        }
        for status, method, count, cents in _rows(query, filters)
    ]
    rows.sort(
        key=lambda r: (
            order.index(r["copay_status"]) if r["copay_status"] in order else 9,
            r["method"],
        )
    )
    return rows


# --- wait before admission ------------------------------------------------------------------


class Waits:
    """A histogram of waits (seconds → how many): exact order statistics without reading
    one row per visit."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = defaultdict(int)

    def add(self, seconds: int, count: int) -> None:
        self.counts[seconds] += count

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def nth(self, n: int) -> int:
        """The ``n``-th smallest wait (1-based)."""
        seen = 0
        for seconds in sorted(self.counts):
            seen += self.counts[seconds]
            if seen >= n:
                return seconds
        raise IndexError(n)

    def median(self) -> float:
        total = self.total
        middle = (total + 1) // 2
        return self.nth(middle) if total % 2 else (self.nth(middle) + self.nth(middle + 1)) / 2

    def p90(self) -> int:
        """By nearest rank: the smallest wait with 90 % of the waits at or below it."""
        return self.nth(max(1, math.ceil(0.9 * self.total)))

    def longest(self) -> int:
        return max(self.counts)


def _wait_row(key: str, label: str, waits: Waits) -> dict[str, Any]:
    return {
        "provider_id": key,
        "label": label,
        "admitted": waits.total,
        "median_minutes": round(waits.median() / 60, 1),
        "p90_minutes": round(waits.p90() / 60, 1),
        "longest_minutes": round(waits.longest() / 60, 1),
    }


def wait(filters: ReportFilters) -> list[dict[str, Any]]:
    query = (
        select(Visit.provider_id, Visit.waited_seconds, func.count())
        .where(Visit.waited_seconds.is_not(None))
        .group_by(Visit.provider_id, Visit.waited_seconds)
    )
    everyone = Waits()
    per: dict[int | None, Waits] = defaultdict(Waits)
    for provider_id, waited, count in _rows(query, filters):
        everyone.add(waited, count)
        per[provider_id].add(waited, count)
    if not everyone.total:
        return []
    names = provider_names()
    rows = [_wait_row("all", "All providers", everyone)]
    for provider_id in sorted(per, key=lambda p: names.get(p or 0, "~")):
        label = names.get(provider_id or 0, "Anyone") if provider_id else "Anyone"
        rows.append(_wait_row(str(provider_id or "none"), label, per[provider_id]))
    return rows


# --- left before seen -----------------------------------------------------------------------


def _left_by(column: Any, filters: ReportFilters) -> dict[int, tuple[int, int]]:
    left = func.sum(case((Visit.outcome == LEFT_BEFORE_SEEN, 1), else_=0))
    # A cancelled calendar appointment never reached the waiting room: nobody could have
    # left it unseen.
    ended = (Visit.outcome != OPEN) & Visit.appointment_id.is_(None)
    query = select(column, func.count(), left).where(ended).group_by(column)
    return {key: (count, int(lefts or 0)) for key, count, lefts in _rows(query, filters)}


def left_by_hour(filters: ReportFilters) -> list[dict[str, Any]]:
    counts = _left_by(Visit.local_hour, filters)
    return [
        {
            "hour": hour,
            "label": f"{hour:02d}:00",
            "visits": counts[hour][0],
            "left_before_seen": counts[hour][1],
            "rate": _share(counts[hour][1], counts[hour][0]),
        }
        for hour in sorted(counts)
    ]


def left_by_weekday(filters: ReportFilters) -> list[dict[str, Any]]:
    counts = _left_by(Visit.local_weekday, filters)
    return [
        {
            "weekday": day,
            "label": WEEKDAYS[day],
            "visits": counts[day][0],
            "left_before_seen": counts[day][1],
            "rate": _share(counts[day][1], counts[day][0]),
        }
        for day in sorted(counts)
    ]


# --- the specs ------------------------------------------------------------------------------


def _wait_drill(row: dict[str, Any]) -> dict[str, str]:
    drill = {"admitted": "1", "sort": "waited", "dir": "desc"}
    if row["provider_id"] != "all":
        drill["provider_id"] = row["provider_id"]
    return drill


BUILT_IN = [
    ReportSpec(
        name="attendance",
        title="Attendance",
        description="How visits ended: attended, no-show, left before being seen, cancelled.",
        columns=(("label", "Outcome"), ("visits", "Visits"), ("share", "Share (%)")),
        rows=attendance,
        label="label",
        value="visits",
        chart="doughnut",
        drill=lambda row: {"outcome": row["outcome"]},
        order=10,
    ),
    ReportSpec(
        name="session_duration",
        title="Session duration",
        description="Video sessions per day of arrival: how many and how long.",
        columns=(
            ("date", "Date"),
            ("sessions", "Sessions"),
            ("total_minutes", "Total (min)"),
            ("average_minutes", "Average (min)"),
            ("longest_minutes", "Longest (min)"),
        ),
        rows=session_duration,
        label="date",
        value="average_minutes",
        chart="line",
        drill=lambda row: {"date": row["date"], "session": "1"},
        order=20,
    ),
    ReportSpec(
        name="invite_type",
        title="Invite type",
        description="How patients came in: QuickVite, appointment, external link, guest.",
        columns=(
            ("label", "Invite type"),
            ("visits", "Visits"),
            ("attended", "Attended"),
            ("share", "Share (%)"),
        ),
        rows=invite_type,
        label="label",
        value="visits",
        drill=lambda row: {"invite_kind": row["invite_kind"]},
        order=30,
    ),
    ReportSpec(
        name="copay",
        title="Copay",
        description="Copays by status and how they were paid, with the amounts.",
        columns=(
            ("status", "Copay"),
            ("method", "Paid by"),
            ("visits", "Visits"),
            ("amount", "Amount ($)"),
        ),
        rows=copay,
        label="label",
        value="visits",
        drill=lambda row: {
            "copay_status": row["copay_status"],
            "copay_method": row["copay_method"],
        },
        order=40,
    ),
    ReportSpec(
        name="wait",
        title="Wait before admission",
        description="Arrival to first admission: median, 90th percentile (nearest rank), longest.",
        columns=(
            ("label", "Provider"),
            ("admitted", "Admitted visits"),
            ("median_minutes", "Median (min)"),
            ("p90_minutes", "90th percentile (min)"),
            ("longest_minutes", "Longest (min)"),
        ),
        rows=wait,
        label="label",
        value="median_minutes",
        drill=_wait_drill,
        order=50,
    ),
    ReportSpec(
        name="left_by_hour",
        title="Left before seen, by hour",
        description="Share of ended visits whose patient left unseen, by hour of arrival.",
        columns=(
            ("label", "Hour"),
            ("visits", "Ended visits"),
            ("left_before_seen", "Left before seen"),
            ("rate", "Rate (%)"),
        ),
        rows=left_by_hour,
        label="label",
        value="rate",
        drill=lambda row: {"hour": str(row["hour"]), "outcome": LEFT_BEFORE_SEEN},
        order=60,
    ),
    ReportSpec(
        name="left_by_weekday",
        title="Left before seen, by weekday",
        description="Share of ended visits whose patient left before being seen, by weekday.",
        columns=(
            ("label", "Weekday"),
            ("visits", "Ended visits"),
            ("left_before_seen", "Left before seen"),
            ("rate", "Rate (%)"),
        ),
        rows=left_by_weekday,
        label="label",
        value="rate",
        drill=lambda row: {"weekday": str(row["weekday"]), "outcome": LEFT_BEFORE_SEEN},
        order=70,
    ),
]
