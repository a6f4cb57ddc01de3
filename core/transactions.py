"""One commit for a change and every record of it, and domain events after that commit.

An emitter calls :func:`emit_on_commit` before its commit: recording plugins write into the
same transaction at once, and the event waits in the session until :func:`commit` has
succeeded. A rollback of the whole transaction forgets the waiting events, so no listener
ever hears of a change that was not saved.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from core.types import DomainEvent

WAITING = "backoffice_events_on_commit"


def emit_on_commit(domain_event: DomainEvent) -> None:
    from core.database import db
    from core.plugins import plugin_manager

    plugin_manager().record(domain_event)
    db.session.info.setdefault(WAITING, []).append(domain_event)


def commit(*, keep_loaded: bool = False) -> None:
    from core.database import db
    from core.plugins import plugin_manager

    session = db.session()  # the current Session behind the scoped proxy
    waiting: list[DomainEvent] = session.info.pop(WAITING, [])
    expire = session.expire_on_commit
    session.expire_on_commit = not keep_loaded and expire
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
    manager = plugin_manager()
    for domain_event in waiting:
        manager.emit(domain_event)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous: SessionTransaction) -> None:
    """A rollback of the whole transaction (not of a savepoint) takes its events along."""
    if previous.parent is None:
        session.info.pop(WAITING, None)
