"""Counting the COMMITs a database really receives, for the rule "one commit per request
or socket event" (../shared/DESIGN.md, "Transactions and hot paths").

The listener sits on the engine's connections, not on the session: a ``session.commit()``
with nothing begun sends no COMMIT and is not counted, a savepoint's release is not a
commit, and every commit of core (invites, messaging, Flask-AppBuilder) is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class Commits:
    """How many COMMITs went to the database since the count began, and how many had
    gone when each spied-on call (a notification, a domain event) was made."""

    count: int = 0
    calls: list[tuple[str, int]] = field(default_factory=list)

    def spy(self, name: str) -> Callable[..., None]:
        """A stand-in for ``notify`` or ``emit_domain_event`` that notes the commits so far.
        It delivers nothing, so no listener's own commits are counted."""

        def called(*_args: Any, **_kwargs: Any) -> None:
            self.calls.append((name, self.count))

        return called


@contextmanager
def count_commits(engine: Engine) -> Iterator[Commits]:
    """Count the COMMITs sent through ``engine`` inside the ``with`` block."""
    commits = Commits()

    def counted(_connection: Any) -> None:
        commits.count += 1

    event.listen(engine, "commit", counted)
    try:
        yield commits
    finally:
        event.remove(engine, "commit", counted)


def engine_of(app: Flask) -> Engine:
    """The engine the app's requests and socket events use."""
    from core.database import db

    with app.app_context():
        engine: Engine = db.engine
    return engine
