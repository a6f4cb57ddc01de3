"""Synthetic visit records at scale (``backoffice reporting seed-visits``), for trying the
reports on a year of a busy practice and for the bench. Written straight into Reporting's
own table: they stand for events that were never emitted, and say so (``entry_id`` NULL)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import insert, text

from core.api import db_session, practice_timezone, staff_members
from plugins.reporting.models import (
    ATTENDED,
    CANCELLED,
    LEFT_BEFORE_SEEN,
    NO_SHOW,
    Visit,
    utcnow,
)

CHUNK = 5000
KINDS = ("quickvite", "appointment", "external", "guest")
OUTCOMES = ((ATTENDED, 0.78), (NO_SHOW, 0.08), (LEFT_BEFORE_SEEN, 0.09), (CANCELLED, 0.05))
METHODS = ("card", "cash", "check", "other")


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _w in weighted], [w for _k, w in weighted])[0]


def _visit(rng: random.Random, day: dt.date, providers: list[int], zone: Any) -> dict[str, Any]:
    local = dt.datetime.combine(day, dt.time(rng.randint(7, 19), rng.randint(0, 59)), zone)
    arrived = local.astimezone(dt.UTC).replace(tzinfo=None)
    outcome = _pick(rng, OUTCOMES)
    row: dict[str, Any] = {
        "entry_id": None,
        "session_id": None,
        "client_id": None,
        "provider_id": rng.choice(providers) if providers else None,
        "invite_id": None,
        "invite_kind": rng.choice(KINDS),
        "arrived_at": arrived,
        "local_date": day,
        "local_hour": local.hour,
        "local_weekday": day.weekday(),
        "outcome": outcome,
        "admissions": 0,
        "sent_back": 0,
        "transfers": 1 if rng.random() < 0.04 else 0,
        "copay_status": "not_required",
        "copay_cents": None,
        "copay_method": None,
        "consent_status": "recorded",
        "updated_at": utcnow(),
        "waited_seconds": None,
        "first_admitted_at": None,
        "session_started_at": None,
        "session_ended_at": None,
        "session_seconds": None,
        "ended_how": {"no_show": "no_show", "left_before_seen": "left", "cancelled": "removed"}.get(
            outcome, "completed"
        ),
    }
    waited = int(rng.expovariate(1 / 420))
    if outcome == ATTENDED:
        admitted = arrived + dt.timedelta(seconds=waited)
        length = int(rng.gauss(45 * 60, 12 * 60)) if rng.random() < 0.95 else rng.randint(60, 600)
        length = max(60, length)
        row.update(
            waited_seconds=waited,
            first_admitted_at=admitted,
            admissions=2 if rng.random() < 0.05 else 1,
            session_started_at=admitted,
            session_ended_at=admitted + dt.timedelta(seconds=length),
            session_seconds=length,
        )
        row["sent_back"] = row["admissions"] - 1
    row["ended_at"] = row["session_ended_at"] or arrived + dt.timedelta(seconds=waited)
    if rng.random() < 0.6:
        collected = rng.random() < 0.85
        row["copay_status"] = "collected" if collected else "due"
        row["copay_cents"] = rng.choice((2000, 2500, 3000, 4000, 5000))
        row["copay_method"] = rng.choice(METHODS) if collected else None
    return row


def seed_visits(count: int, *, days: int = 365, seed: int = 14) -> int:
    """``count`` visits spread over the ``days`` up to today (practice time)."""
    rng = random.Random(seed)
    zone = practice_timezone()
    providers = [m.id for m in staff_members("Clinician")] or [m.id for m in staff_members()]
    today = dt.datetime.now(zone).date()
    session = db_session()
    batch: list[dict[str, Any]] = []
    for _ in range(count):
        day = today - dt.timedelta(days=rng.randrange(days))
        batch.append(_visit(rng, day, providers, zone))
        if len(batch) == CHUNK:
            session.execute(insert(Visit), batch)
            batch = []
    if batch:
        session.execute(insert(Visit), batch)
    session.commit()
    analyse()
    return count


def analyse() -> None:
    """Fresh planner statistics after a bulk load (SQLite keeps none until asked)."""
    session = db_session()
    session.execute(text("ANALYZE reporting_visit"))
    session.commit()
