"""Socket.IO of the Upload Site (staff only: patients have no upload events).

Notifications, to staff holding ``can_read`` on ``UploadInbox`` only (they name the
client): ``upload_site.received`` with the file's summary (see
``service.records.summary``) when a patient uploads, and ``upload_site.deleted`` with
``{id, client_id}``. A page fetches ``upload_site.unread`` on every (re)connect, and a
client's page ``upload_site.client_files``, then applies the notifications.
"""

from __future__ import annotations

from typing import Any

from core.api import Client, SocketContext, SocketError, SocketEvent, audit, db_session
from plugins.upload_site.schemas import ClientFilesSchema, UnreadSchema
from plugins.upload_site.service.records import (
    READ_PERMISSION,
    SOURCE,
    live_files,
    summary,
    unread_counts,
)


def unread(payload: dict[str, Any], context: SocketContext) -> dict[str, Any]:
    counts = unread_counts()
    return {"total": sum(counts.values()), "clients": {str(k): v for k, v in counts.items()}}


def client_files(payload: dict[str, Any], context: SocketContext) -> list[dict[str, Any]]:
    if db_session().get(Client, payload["client_id"]) is None:
        raise SocketError("not_found", "there is no client with that id")
    rows = live_files(payload["client_id"])
    audit(
        "upload_site.files_listed",
        target=f"client:{payload['client_id']}",
        details={"files": [row.id for row in rows], "via": "socket"},
        source=SOURCE,
    )
    db_session().commit()
    return [summary(row) for row in rows]


EVENTS = [
    SocketEvent("upload_site.unread", unread, UnreadSchema, permission=READ_PERMISSION),
    SocketEvent(
        "upload_site.client_files", client_files, ClientFilesSchema, permission=READ_PERMISSION
    ),
]
