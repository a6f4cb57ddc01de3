"""The codes of the practice's external waiting-room links: one for the practice and one
per provider, kept in the database so every worker and every plugin sees the same ones.

The first practice code comes from config ``WAITING_ROOM_EXTERNAL_CODE`` (several
comma-separated), else from the instance folder's ``waiting_room_join_code`` (where the
waiting room kept it before), else is made for this database. A rotated code keeps
working for the grace period the admin picks, then tells the patient to contact the
practice. The waiting room honours the codes; Settings shows and rotates them.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import audit
from core.database import db
from core.models import JoinCode, utcnow

ACTIVE = "active"
GRACE = "grace"
RETIRED = "retired"
CODE_MAX = 64
MAX_GRACE = dt.timedelta(days=365)


class JoinCodeError(ValueError):
    """A rotation that cannot be done as asked."""


@dataclass(frozen=True)
class CodeMatch:
    """What a code opens: the practice (``provider_id`` ``None``) or one provider's room."""

    id: int
    code: str
    provider_id: int | None
    state: str  # active | grace | retired
    valid_until: dt.datetime | None


def new_code() -> str:
    return secrets.token_urlsafe(9)  # 72 bits, 12 characters; guessing is rate limited


#: Where the waiting room kept this installation's code before the registry existed.
LEGACY_CODE_FILE = "waiting_room_join_code"


def _configured() -> list[str]:
    raw = current_app.config.get("WAITING_ROOM_EXTERNAL_CODE", "")
    codes = raw if isinstance(raw, list | tuple) else str(raw or "").split(",")
    found = [str(code).strip()[:CODE_MAX] for code in codes if str(code).strip()]
    legacy = Path(current_app.instance_path) / LEGACY_CODE_FILE
    if not found and legacy.is_file():  # the link already printed keeps working
        found = [legacy.read_text().strip()[:CODE_MAX]]
    return [code for code in found if code]


def ensure_practice_codes() -> None:
    """Give the practice its first code(s) once per database (workers racing keep one)."""
    app = current_app
    if app.extensions.get("backoffice.join_codes_ready"):
        return
    if db.session.scalar(select(JoinCode.id).where(JoinCode.provider_id.is_(None)).limit(1)):
        app.extensions["backoffice.join_codes_ready"] = True
        return
    for code in _configured() or [new_code()]:
        db.session.add(JoinCode(code=code, created_by="system"))
        try:
            db.session.commit()
        except IntegrityError:  # another worker made it first
            db.session.rollback()
    app.extensions["backoffice.join_codes_ready"] = True


def _state(row: JoinCode, now: dt.datetime) -> str:
    if row.retired_at is None:
        return ACTIVE
    if row.valid_until is not None and row.valid_until > now:
        return GRACE
    return RETIRED


def _match(row: JoinCode, now: dt.datetime) -> CodeMatch:
    return CodeMatch(row.id, row.code, row.provider_id, _state(row, now), row.valid_until)


def lookup(code: str) -> CodeMatch | None:
    """The code's match (active, in its grace period, or retired), or ``None``: one query."""
    if not isinstance(code, str) or not 1 <= len(code) <= CODE_MAX:
        return None
    ensure_practice_codes()
    row = db.session.scalar(select(JoinCode).where(JoinCode.code == code))
    return None if row is None else _match(row, utcnow())


def active_codes(provider_id: int | None = None) -> list[CodeMatch]:
    """The practice's active codes (``provider_id``: that provider's), oldest first."""
    ensure_practice_codes()
    owner = (
        JoinCode.provider_id.is_(None)
        if provider_id is None
        else (JoinCode.provider_id == provider_id)
    )
    query = select(JoinCode).where(owner, JoinCode.retired_at.is_(None)).order_by(JoinCode.id)
    now = utcnow()
    return [_match(row, now) for row in db.session.scalars(query)]


def all_codes() -> list[CodeMatch]:
    """Every code, newest first, for the admin page."""
    ensure_practice_codes()
    now = utcnow()
    query = select(JoinCode).order_by(JoinCode.id.desc())
    return [_match(row, now) for row in db.session.scalars(query)]


def url_of(code: str) -> str:
    return url_for(current_app.config["JOIN_CODE_ENDPOINT"], code=code, _external=True)


def practice_code() -> str:
    return active_codes()[0].code


def provider_code(provider_id: int, *, create: bool = True) -> str | None:
    """The provider's active code, made on first use (by the caller's commit)."""
    found = active_codes(provider_id)
    if found:
        return found[0].code
    if not create:
        return None
    row = JoinCode(code=new_code(), provider_id=provider_id, created_by=audit.current_actor())
    db.session.add(row)
    db.session.flush()
    audit.record(
        "join_code.created",
        target=f"join_code:{row.id}",
        details={"provider_id": provider_id},
        source="core",
        commit=False,
    )
    return row.code


def rotate(code_id: int, grace_seconds: int, *, source: str) -> CodeMatch:
    """Replace an active code with a new one; the old one keeps working for
    ``grace_seconds`` (0: stops at once). Audited; written by the caller's commit."""
    grace = dt.timedelta(seconds=grace_seconds)
    if grace < dt.timedelta(0) or grace > MAX_GRACE:
        raise JoinCodeError("the grace period must be between 0 and 365 days")
    old = db.session.get(JoinCode, code_id)
    if old is None:
        raise JoinCodeError(f"no join code with id {code_id}")
    if old.retired_at is not None:
        raise JoinCodeError("that code was already replaced")
    now = utcnow()
    old.retired_at, old.valid_until = now, now + grace
    fresh = JoinCode(code=new_code(), provider_id=old.provider_id, created_by=audit.current_actor())
    db.session.add(fresh)
    db.session.flush()
    audit.record(
        "join_code.rotated",
        target=f"join_code:{old.id}",
        details={
            "provider_id": old.provider_id,
            "new_code_id": fresh.id,
            "grace_seconds": grace_seconds,
        },
        source=source,
        commit=False,
    )
    return _match(fresh, now)
