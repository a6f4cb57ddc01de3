"""The append-only audit log: rows are only ever inserted."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from core.database import db
from core.models import AuditEntry


def current_actor() -> str | None:
    if not has_request_context():
        return None
    try:
        if current_user and current_user.is_authenticated:
            return str(current_user.username)
    except Exception:  # no login manager bound (CLI, background task)
        return None
    return None


def record(
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    *,
    actor: str | None = None,
    source: str = "core",
    commit: bool = True,
) -> AuditEntry:
    """Append one entry. ``actor`` defaults to the logged-in user, or ``system``."""
    entry = AuditEntry(
        action=action,
        target=_fit(target, AuditEntry.target),
        details=details,
        actor=_fit(actor or current_actor() or "system", AuditEntry.actor),
        source=source,
    )
    if has_request_context():
        entry.ip = (request.remote_addr or "")[:64] or None
        entry.user_agent = (request.user_agent.string or "")[:300] or None
    db.session.add(entry)
    if commit:
        db.session.commit()
    return entry


def _fit(text: str | None, column: Any) -> str | None:
    """Cut what a stranger typed (a 3000-character "username") to the column, visibly."""
    length = column.type.length
    if text is None or len(text) <= length:
        return text
    return text[: length - 1] + "\u2026"
