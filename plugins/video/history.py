"""Video sessions already held, told as the ``session.*`` events that announced them, for
a listener added later (reporting's backfill)."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from core.api import DomainEvent, db_session
from plugins.video.models import VideoSession
from plugins.video.service import SOURCE, domain_payload, iso

BATCH = 1000


def history_events() -> Iterator[DomainEvent]:
    query = (
        select(VideoSession)
        .where(VideoSession.started_at.is_not(None))
        .order_by(VideoSession.started_at, VideoSession.id)
    )
    for session in db_session().scalars(query.execution_options(yield_per=BATCH)):
        yield DomainEvent(
            "session.started", domain_payload(session, at=iso(session.started_at)), source=SOURCE
        )
        if session.ended_at is not None:
            payload = domain_payload(session, at=iso(session.ended_at))
            yield DomainEvent("session.ended", payload, source=SOURCE)
