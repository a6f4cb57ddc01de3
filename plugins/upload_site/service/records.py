"""The rows behind the Upload Site: keeping staged files, links, the inbox and read state."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from flask import url_for
from sqlalchemy import case, func, select, update

from core.api import (
    Client,
    PortalActivity,
    audit,
    db_session,
    emit_domain_event,
    new_patient_token,
    notify,
    setting,
    verify_patient_token,
)
from plugins.upload_site.models import UploadedFile, UploadLink, utcnow
from plugins.upload_site.service.intake import PREVIEWABLE, StagedFile, size_text
from plugins.upload_site.service.storage import discard, new_key, storage

SOURCE = "upload_site"
READ_PERMISSION = ("can_read", "UploadInbox")
TOKEN_PURPOSE = "upload_site.link"


def keep(
    staged: list[StagedFile],
    *,
    client_id: int,
    via: str,
    actor: str | None = None,
    note: str | None = None,
    link: UploadLink | None = None,
    user_id: int | None = None,
) -> list[UploadedFile]:
    """Move staged files into the store and add their rows and audit entries to the
    transaction. The caller commits once; on failure it calls ``forget`` on the rows."""
    kept: list[UploadedFile] = []
    store = storage()
    session = db_session()
    try:
        for item in staged:
            key = new_key()
            store.save(key, item.path)
            row = UploadedFile(
                client_id=client_id,
                storage_backend=store.name,
                storage_key=key,
                sha256=item.sha256,
                size=item.size,
                content_type=item.content_type,
                extension=item.extension,
                original_name=item.original_name,
                note=note or None,
                via=via,
                link_id=link.id if link else None,
                uploaded_by_id=user_id,
                # what staff upload themselves is not news to the inbox
                read_at=utcnow() if via == "staff" else None,
                read_by_id=user_id if via == "staff" else None,
            )
            session.add(row)
            kept.append(row)
        session.flush()
    except BaseException:
        forget(kept)
        for item in staged:
            discard(item.path)
        raise
    for row in kept:
        audit(
            "upload_site.uploaded",
            target=f"upload:{row.id}",
            details={
                "client_id": client_id,
                "via": via,
                "size": row.size,
                "type": row.extension,
                "sha256": row.sha256,
                "link_id": row.link_id,
            },
            source=SOURCE,
            actor=actor,
        )
    return kept


def forget(rows: list[UploadedFile]) -> None:
    """The files of rows whose transaction did not commit."""
    store = storage()
    for row in rows:
        # best effort: an orphan blob holds no row and no name
        with contextlib.suppress(Exception):
            store.remove(row.storage_key)


def announce(rows: list[UploadedFile]) -> None:
    """After the commit: the live notification to staff who may read uploads, and the
    domain event, for each file a patient sent."""
    for row in rows:
        if row.via != "staff":
            notify("upload_site.received", summary(row), permission=READ_PERMISSION)
        emit_domain_event("upload_site.received", event_payload(row), source=SOURCE)


def event_payload(row: UploadedFile) -> dict[str, Any]:
    return {
        "upload_id": row.id,
        "client_id": row.client_id,
        "via": row.via,
        "type": row.extension,
        "size": row.size,
        "sha256": row.sha256,
    }


def summary(row: UploadedFile) -> dict[str, Any]:
    """What a staff page shows of one file (the inbox's rows and the notification)."""
    return {
        "id": row.id,
        "client_id": row.client_id,
        "client_name": row.client.full_name,
        "name": row.download_name,
        "note": row.note or "",
        "type": row.extension,
        "size": row.size,
        "size_text": size_text(row.size),
        "via": row.via,
        "created_at": row.created_at.isoformat(),
        "unread": row.unread,
        "previewable": row.extension in PREVIEWABLE,
        "preview_url": url_for("UploadInboxView.preview", pk=row.id),
        "download_url": url_for("UploadInboxView.download", pk=row.id),
        "client_url": url_for("UploadInboxView.client", pk=row.client_id, file=row.id),
    }


# --- queries ---------------------------------------------------------------------------------


def live_files(client_id: int) -> list[UploadedFile]:
    query = (
        select(UploadedFile)
        .where(UploadedFile.client_id == client_id, UploadedFile.deleted_at.is_(None))
        .order_by(UploadedFile.created_at.desc(), UploadedFile.id.desc())
    )
    return list(db_session().scalars(query))


def live_file(pk: int, client_id: int | None = None) -> UploadedFile | None:
    """A file that is not deleted; with ``client_id``, only if it is that client's."""
    row: UploadedFile | None = db_session().get(UploadedFile, pk)
    if row is None or row.deleted_at is not None:
        return None
    if client_id is not None and row.client_id != client_id:
        return None
    return row


@dataclass(frozen=True)
class InboxRow:
    client: Client
    files: int
    unread: int
    last_upload: dt.datetime


def inbox() -> list[InboxRow]:
    """Every client with live uploads, those with unread files first: one query."""
    unread = func.sum(case((UploadedFile.read_at.is_(None), 1), else_=0))
    query = (
        select(Client, func.count(UploadedFile.id), unread, func.max(UploadedFile.created_at))
        .join(UploadedFile, UploadedFile.client_id == Client.id)
        .where(UploadedFile.deleted_at.is_(None))
        .group_by(Client.id)
        .order_by((unread > 0).desc(), func.max(UploadedFile.created_at).desc())
    )
    return [
        InboxRow(client, int(files), int(unread_count or 0), last)
        for client, files, unread_count, last in db_session().execute(query)
    ]


def unread_counts() -> dict[int, int]:
    query = (
        select(UploadedFile.client_id, func.count(UploadedFile.id))
        .where(UploadedFile.deleted_at.is_(None), UploadedFile.read_at.is_(None))
        .group_by(UploadedFile.client_id)
    )
    return {int(client_id): int(count) for client_id, count in db_session().execute(query)}


def mark_read(row: UploadedFile, user_id: int) -> None:
    if row.read_at is None:
        row.read_at = utcnow()
        row.read_by_id = user_id


# --- one-time upload links ---------------------------------------------------------------------


def _subject_hash(subject: str) -> str:
    return hashlib.sha256(subject.encode()).hexdigest()


def new_link(client: Client, channel: str, recipient: str, user_id: int) -> tuple[UploadLink, str]:
    """A link row and its token (shown once: only the hash of its subject is kept)."""
    hours = max(1, int(setting("UPLOAD_SITE_LINK_HOURS")))
    link = UploadLink(
        client_id=client.id,
        subject_hash="pending",
        channel=channel,
        recipient=recipient,
        created_by_id=user_id,
        expires_at=utcnow() + dt.timedelta(hours=hours),
    )
    session = db_session()
    session.add(link)
    session.flush()
    token = new_patient_token(purpose=TOKEN_PURPOSE, link=link.id)
    claims = verify_patient_token(token, max_age=hours * 3600)
    assert claims is not None  # just signed
    link.subject_hash = _subject_hash(claims["sub"])
    return link, token


def open_link(token: str) -> UploadLink | None:
    """The link a token names while it is unused, unrevoked and unexpired, else ``None``."""
    if not isinstance(token, str) or len(token) > 500:
        return None
    hours = max(1, int(setting("UPLOAD_SITE_LINK_HOURS")))
    claims = verify_patient_token(token, max_age=hours * 3600)
    if not claims or claims.get("purpose") != TOKEN_PURPOSE:
        return None
    link_id = claims.get("link")
    if not isinstance(link_id, int) or isinstance(link_id, bool):
        return None
    link: UploadLink | None = db_session().get(UploadLink, link_id)
    if link is None or not hmac.compare_digest(link.subject_hash, _subject_hash(claims["sub"])):
        return None
    return link if link.is_open() else None


def link_url(token: str) -> str:
    return url_for("upload_site_patient.link_form", token=token, _external=True)


def claim(link: UploadLink) -> bool:
    """Use the link up, in the caller's transaction; false when another request did."""
    result = db_session().execute(
        update(UploadLink)
        .where(UploadLink.id == link.id, UploadLink.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def portal_activity(client_id: int, limit: int = 50) -> list[PortalActivity]:
    """The client's own uploads, newest first, for the staff's portal activity page."""
    query = (
        select(UploadedFile)
        .where(UploadedFile.client_id == client_id, UploadedFile.via != "staff")
        .order_by(UploadedFile.created_at.desc(), UploadedFile.id.desc())
        .limit(limit)
    )
    return [
        PortalActivity(
            at=row.created_at,
            kind="upload",
            summary=f"uploaded {row.original_name} ({size_text(row.size)})"
            + (" (deleted)" if row.deleted_at is not None else ""),
            source="upload_site",
        )
        for row in db_session().scalars(query)
    ]
