"""Intake's rules: open a questionnaire per arrival, record the answers."""

from __future__ import annotations

from typing import Any

from core.api import audit, db_session, emit_domain_event, notify, setting
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from intake.models import COMPLETED, OPEN, IntakeForm, now

SOURCE = "intake"
CAN_LIST = ("can_list", "IntakeForm")


class IntakeError(Exception):
    """A request Intake cannot honour; the message is for the person who made it."""


def questions() -> list[str]:
    return [line.strip() for line in str(setting("INTAKE_QUESTIONS")).splitlines() if line.strip()]


def summary(form: IntakeForm) -> dict[str, Any]:
    return {"form_id": form.id, "entry_id": form.entry_id, "client_id": form.client_id}


def open_for_arrival(payload: dict[str, Any]) -> None:
    """``patient.arrived``: one open questionnaire for the visit, unless the setting is off.
    A listener commits its own writes and must not assume the emitter's session is open."""
    if not setting("INTAKE_ON_ARRIVAL"):
        return
    session = db_session()
    form = IntakeForm(entry_id=payload["entry_id"], client_id=payload["client_id"], status=OPEN)
    try:
        session.add(form)
        session.flush()
        audit("intake.requested", target=f"intake:{form.id}", source=SOURCE, actor="system")
        session.commit()
    except IntegrityError:  # this visit already has one (an event delivered twice)
        session.rollback()
        return
    notify("intake.requested", summary(form), permission=CAN_LIST)
    emit_domain_event("intake.requested", summary(form), source=SOURCE)


def complete(form_id: int, answers: list[str], user_id: int | None) -> IntakeForm:
    session = db_session()
    form = session.get(IntakeForm, form_id)
    if form is None:
        raise IntakeError("that questionnaire does not exist")
    if form.status == COMPLETED:
        raise IntakeError("this questionnaire was already answered")
    asked = questions()
    if len(answers) != len(asked):
        raise IntakeError(f"answer each of the {len(asked)} questions (an answer may be empty)")
    form.answers = [
        {"question": q, "answer": a.strip()} for q, a in zip(asked, answers, strict=True)
    ]
    form.status, form.completed_at, form.completed_by_id = COMPLETED, now(), user_id
    audit(
        "intake.completed",
        target=f"intake:{form.id}",
        details={"answers": len(asked)},
        source=SOURCE,
    )
    session.commit()
    done = {
        **summary(form),
        "answered": sum(1 for a in answers if a.strip()),
        "completed_by": user_id,
    }
    notify("intake.completed", done, permission=CAN_LIST)
    emit_domain_event("intake.completed", done, source=SOURCE)
    return form


def pending(limit: int) -> list[dict[str, Any]]:
    query = select(IntakeForm).where(IntakeForm.status == OPEN).order_by(IntakeForm.id).limit(limit)
    return [summary(form) for form in db_session().scalars(query)]


def answered_visits(entry_ids: list[int]) -> set[int]:
    """The visits among ``entry_ids`` whose questionnaire was answered: one query, for the
    report column (see ``REPORT COLUMN`` in ``__init__.py``)."""
    query = select(IntakeForm.entry_id).where(
        IntakeForm.entry_id.in_(entry_ids), IntakeForm.status == COMPLETED
    )
    return set(db_session().scalars(query))


def answered_column(visits: list[dict[str, Any]]) -> dict[int, str]:
    """The report column's values for a page of visits (each with ``id`` and
    ``entry_id``): "yes" when that visit's questionnaire was answered, else "no"."""
    entry_ids = [v["entry_id"] for v in visits if isinstance(v.get("entry_id"), int)]
    answered = answered_visits(entry_ids) if entry_ids else set()
    return {v["id"]: "yes" if v.get("entry_id") in answered else "no" for v in visits}
