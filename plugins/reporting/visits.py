"""The visits behind a figure: the drill-down's filters, its sorted page, its CSV rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.sql import Select

from core.api import Client, ReportColumn, ReportFilters, db_session
from plugins.reporting.models import (
    COPAY_LABELS,
    INVITE_LABELS,
    OUTCOME_LABELS,
    OUTCOMES,
    Visit,
)
from plugins.reporting.reports import METHOD_LABELS, provider_names, scoped

MAX_DAYS = 731
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
CSV_LIMIT = 200_000


class BadFilter(ValueError):
    """A filter a person typed or a link carried that cannot be honoured (a 400)."""


def _date(raw: str | None, name: str, default: dt.date) -> dt.date:
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadFilter(f"{name} must be a date like 2026-12-04, not {raw[:40]!r}") from None


def _int(raw: str | None, name: str, low: int, high: int) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise BadFilter(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def parse_filters(args: Mapping[str, str], zone: ZoneInfo, *, own_id: int | None) -> ReportFilters:
    """Filters from a query string; ``own_id`` (a viewer who sees only their own rows)
    pins the provider, and asking for anyone else's is refused."""
    today = dt.datetime.now(zone).date()
    date_to = _date(args.get("date_to"), "date_to", today)
    date_from = _date(args.get("date_from"), "date_from", date_to - dt.timedelta(days=29))
    if date_from > date_to:
        raise BadFilter("date_from must not be after date_to")
    if (date_to - date_from).days > MAX_DAYS:
        raise BadFilter(f"ask for at most {MAX_DAYS} days at once")
    raw = args.get("provider_id")  # "none": visits for anyone (the drill narrows to them)
    provider_id = None if raw == "none" else _int(raw, "provider_id", 1, 2**31 - 1)
    if own_id is not None:
        if provider_id not in (None, own_id):
            raise PermissionError("your role shows only your own visits")
        provider_id = own_id
    kind = args.get("invite_kind") or None
    if kind is not None and kind not in INVITE_LABELS:
        raise BadFilter(f"invite_kind must be one of {', '.join(INVITE_LABELS)}")
    return ReportFilters(date_from, date_to, zone, provider_id, kind)


# --- the drill-down ---------------------------------------------------------------------------

SORTS: dict[str, Any] = {
    "arrived": Visit.arrived_at,
    "waited": Visit.waited_seconds,
    "session": Visit.session_seconds,
    "outcome": Visit.outcome,
    "copay": Visit.copay_cents,
    "provider": Visit.provider_id,
}


def drill_query(filters: ReportFilters, args: Mapping[str, str]) -> Select[Any]:
    """The visits the figure counted, narrowed by the drill's own keys."""
    query = scoped(select(Visit), filters)
    outcome = args.get("outcome")
    if outcome:
        if outcome not in OUTCOMES:
            raise BadFilter(f"outcome must be one of {', '.join(OUTCOMES)}")
        query = query.where(Visit.outcome == outcome)
    if args.get("date"):
        query = query.where(Visit.local_date == _date(args.get("date"), "date", filters.date_from))
    hour = _int(args.get("hour"), "hour", 0, 23)
    if hour is not None:
        query = query.where(Visit.local_hour == hour)
    weekday = _int(args.get("weekday"), "weekday", 0, 6)
    if weekday is not None:
        query = query.where(Visit.local_weekday == weekday)
    status = args.get("copay_status")
    if status:
        if status not in COPAY_LABELS:
            raise BadFilter(f"copay_status must be one of {', '.join(COPAY_LABELS)}")
        query = query.where(Visit.copay_status == status)
    method = args.get("copay_method")
    if method:
        if method != "none" and method not in METHOD_LABELS:
            raise BadFilter("copay_method must be card, cash, check, other or none")
        column = Visit.copay_method
        query = query.where(column.is_(None) if method == "none" else column == method)
    if args.get("admitted") == "1":
        query = query.where(Visit.waited_seconds.is_not(None))
    if args.get("session") == "1":
        query = query.where(Visit.session_seconds.is_not(None))
    if args.get("provider_id") == "none":
        query = query.where(Visit.provider_id.is_(None))
    return query


def sort_of(args: Mapping[str, str]) -> tuple[str, str]:
    sort = args.get("sort") or "arrived"
    direction = args.get("dir") or "asc"
    if sort not in SORTS:
        raise BadFilter(f"sort must be one of {', '.join(SORTS)}")
    if direction not in ("asc", "desc"):
        raise BadFilter("dir must be asc or desc")
    return sort, direction


def ordered(query: Select[Any], sort: str, direction: str) -> Select[Any]:
    if sort == "arrived":  # the local date first: the range and the order share one index
        if direction == "desc":
            return query.order_by(Visit.local_date.desc(), Visit.arrived_at.desc(), Visit.id.desc())
        return query.order_by(Visit.local_date, Visit.arrived_at, Visit.id)
    column = SORTS[sort]
    key = column.desc() if direction == "desc" else column.asc()
    tie = Visit.id.desc() if direction == "desc" else Visit.id.asc()
    return query.order_by(key.nulls_last() if direction == "desc" else key, tie)


def count(query: Select[Any]) -> int:
    """How many visits ``query`` finds, counted on the index (no row is read)."""
    counting = query.with_only_columns(func.count(Visit.id)).order_by(None)
    return int(db_session().scalar(counting) or 0)


def fetch(query: Select[Any], *, offset: int, limit: int) -> list[Any]:
    """Plain rows (named like ``Visit``'s attributes), not ORM objects: a CSV of thousands
    of visits is read, never changed, and plain rows cost a fraction to build."""
    plain = query.with_only_columns(*Visit.__table__.c).offset(offset).limit(limit)
    return list(db_session().execute(plain))


# --- the rows as people read them -------------------------------------------------------------

COLUMNS: tuple[tuple[str, str], ...] = (
    ("date", "Date"),
    ("arrived", "Arrived"),
    ("client", "Client"),
    ("provider", "Provider"),
    ("invite", "Invite type"),
    ("outcome", "Outcome"),
    ("waited", "Waited (min)"),
    ("session_start", "Session start"),
    ("session_end", "Session end"),
    ("length", "Length (min)"),
    ("copay", "Copay"),
    ("copay_amount", "Amount ($)"),
    ("copay_method", "Paid by"),
    ("sent_back", "Sent back"),
    ("transfers", "Transfers"),
)
#: Table columns that sort, and the sort key each uses.
SORTABLE = {
    "arrived": "arrived",
    "provider": "provider",
    "outcome": "outcome",
    "waited": "waited",
    "length": "session",
    "copay_amount": "copay",
}


def _local(value: dt.datetime | None, zone: ZoneInfo, fmt: str) -> str:
    if value is None:
        return ""
    return value.replace(tzinfo=dt.UTC).astimezone(zone).strftime(fmt)


def _minutes(seconds: int | None) -> str:
    return "" if seconds is None else f"{seconds / 60:.1f}"


def _client_names(visits: list[Any]) -> dict[int, str]:
    ids = {v.client_id for v in visits if v.client_id is not None}
    if not ids:
        return {}
    query = select(Client.id, Client.first_name, Client.last_name).where(Client.id.in_(ids))
    return {cid: f"{first} {last}" for cid, first, last in db_session().execute(query)}


def display_rows(
    visits: list[Any], zone: ZoneInfo, extra: list[ReportColumn]
) -> list[dict[str, Any]]:
    """Each visit as its table row (and CSV line): one query for the names of the page's
    clients, one call per added column."""
    clients = _client_names(visits)
    providers = provider_names()
    plain = [
        {
            "id": v.id,
            "entry_id": v.entry_id,
            "session_id": v.session_id,
            "client_id": v.client_id,
            "provider_id": v.provider_id,
            "invite_id": v.invite_id,
        }
        for v in visits
    ]
    added = {column.name: column.values(plain) for column in extra}
    rows = []
    for v in visits:
        row: dict[str, Any] = {
            "id": v.id,
            "date": v.local_date.isoformat(),
            "arrived": _local(v.arrived_at, zone, "%H:%M"),
            "client": clients.get(v.client_id or 0, "Walk-in (no chart)"),
            "provider": providers.get(v.provider_id or 0, "Anyone") if v.provider_id else "Anyone",
            "invite": INVITE_LABELS.get(v.invite_kind, v.invite_kind),
            "outcome": OUTCOME_LABELS.get(v.outcome, v.outcome),
            "waited": _minutes(v.waited_seconds),
            "session_start": _local(v.session_started_at, zone, "%Y-%m-%d %H:%M"),
            "session_end": _local(v.session_ended_at, zone, "%Y-%m-%d %H:%M"),
            "length": _minutes(v.session_seconds),
            "copay": COPAY_LABELS.get(v.copay_status, v.copay_status),
            "copay_amount": "" if v.copay_cents is None else f"{v.copay_cents / 100:.2f}",
            "copay_method": METHOD_LABELS.get(v.copay_method, v.copay_method),
            "sent_back": v.sent_back,
            "transfers": v.transfers,
        }
        for column in extra:
            row[column.name] = added[column.name].get(v.id, "")
        rows.append(row)
    return rows
