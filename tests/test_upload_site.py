"""Upload Site: patients' and staff uploads, limits judged by content and size, the
storage backends (a local folder and S3 through a moto server), the staff inbox with its
live notification, previews, audited downloads and soft deletes, and that no patient
ever reaches another patient's files."""

from __future__ import annotations

import hashlib
import io
import select as socket_select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, g, request
from flask.testing import FlaskClient
from sqlalchemy import select

from core.realtime import socketio_of
from tests.conftest import LiveServer, free_port, login
from tests.test_messaging import SmtpSink, smtp_server  # noqa: F401 (a real SMTP server)
from tests.upload_site_helpers import exe, files, pdf, png

DEMO_NOTE = "Demo"  # the demo practice's one upload (plugins/upload_site/service/demo.py)
SECURE_HEADERS = ("X-Content-Type-Options", "Content-Security-Policy", "Content-Disposition")


# --- fixtures ---------------------------------------------------------------------------------


def sign_in_portal_by_header(app: Flask) -> None:
    """No uploads yet, and a test-only stand-in for the portal's sign-in:
    ``X-Test-Portal-Client: <id>`` puts that client in ``g.portal_client``, which is what
    ``core.api.portal_client()`` reads."""
    from core.api import Client
    from core.database import db
    from plugins.upload_site.models import UploadedFile

    with app.app_context():  # the demo practice's upload, deleted (softly: ids stay unique)
        for demo in db.session.scalars(select(UploadedFile)):
            demo.deleted_at = demo.created_at
        db.session.commit()

    @app.before_request
    def _portal_client_from_test_header() -> None:
        given = request.headers.get("X-Test-Portal-Client")
        if given:
            g.portal_client = db.session.get(Client, int(given))


@pytest.fixture
def upload_app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(WTF_CSRF_ENABLED=False)
    sign_in_portal_by_header(app)
    return app


def as_patient(client_id: int) -> dict[str, str]:
    return {"X-Test-Portal-Client": str(client_id)}


def portal_upload(
    client: FlaskClient, client_id: int, *items: tuple[bytes, str], note: str = ""
) -> Any:
    return client.post(
        "/upload-site/portal",
        data=files(*items, note=note),
        headers=as_patient(client_id),
        content_type="multipart/form-data",
    )


def rows(app: Flask, **where: Any) -> list[Any]:
    from core.database import db
    from plugins.upload_site.models import UploadedFile

    with app.app_context():
        query = (
            select(UploadedFile)
            .filter_by(**where)
            .where(UploadedFile.note.is_distinct_from(DEMO_NOTE))
            .order_by(UploadedFile.id)
        )
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


def audit_actions(app: Flask, prefix: str = "upload_site.") -> list[tuple[str, str | None, str]]:
    from core.database import db
    from core.models import AuditEntry

    with app.app_context():
        query = (
            select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)
        )
        return [(e.action, e.target, e.actor or "") for e in db.session.scalars(query)]


def stored_path(app: Flask, key: str) -> Path:
    return Path(app.instance_path) / "upload_site" / key[:2] / key


def staff_socket(app: Flask, username: str, client: FlaskClient | None = None) -> Any:
    """A staff socket; pass the page's own ``client`` (a new login would end its session)."""
    if client is None:
        client = app.test_client()
        login(client, username)
    sio = socketio_of(app).test_client(app, namespace="/staff", flask_test_client=client)
    assert sio.is_connected("/staff")
    return sio


def received(sio: Any, name: str = "upload_site.received") -> list[dict[str, Any]]:
    return [m["args"][0] for m in sio.get_received("/staff") if m["name"] == name]


# --- patients upload from the portal ------------------------------------------------------------


def test_portal_upload_is_kept_outside_the_web_root_with_its_hash_and_told_to_staff(
    upload_app: Flask,
) -> None:
    clinician = staff_socket(upload_app, "clinician1")
    security = staff_socket(upload_app, "secadmin")  # holds no Upload Site permission
    document = pdf("Referral letter")
    client = upload_app.test_client()

    response = portal_upload(client, 1, (document, "../../referral.pdf"), note="from Dr. Smith")

    assert response.status_code == 303, response.text
    [row] = rows(upload_app)
    assert (row.client_id, row.via, row.extension, row.content_type) == (
        1,
        "portal",
        "pdf",
        "application/pdf",
    )
    assert row.sha256 == hashlib.sha256(document).hexdigest() and row.size == len(document)
    assert row.original_name == "referral.pdf" and row.note == "from Dr. Smith"
    assert row.storage_key not in row.original_name and len(row.storage_key) == 64
    path = stored_path(upload_app, row.storage_key)
    assert path.read_bytes() == document
    assert Path(upload_app.static_folder or "") not in path.parents
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert list(path.parent.parent.joinpath("incoming").iterdir()) == []  # moved, not copied
    [note] = received(clinician)
    assert note["client_name"] == "Alex Rivera" and note["name"] == "referral.pdf"
    assert note["preview_url"] == f"/upload-site/files/{row.id}/preview"
    assert received(security) == []
    assert ("upload_site.uploaded", f"upload:{row.id}", "client:1") in audit_actions(upload_app)
    mine = client.get("/upload-site/portal", headers=as_patient(1))
    assert mine.status_code == 200 and "referral.pdf" in mine.text


def test_the_domain_event_is_declared_and_emitted(upload_app: Flask) -> None:
    from core.app import plugin_manager
    from core.types import DomainEvent

    with upload_app.app_context():
        specs = plugin_manager().call_one("upload_site", "backoffice_declared_events")
    names = {spec.name: spec for spec in specs}
    assert "upload_site.received" in names and "upload_site.deleted" in names
    heard: list[DomainEvent] = []
    with upload_app.app_context():
        manager = plugin_manager()
        original = manager.emit
        manager.emit = lambda event: (heard.append(event), original(event))  # type: ignore[method-assign]
        try:
            assert (
                portal_upload(upload_app.test_client(), 2, (png(), "card.png")).status_code == 303
            )
        finally:
            manager.emit = original  # type: ignore[method-assign]
    [event] = [e for e in heard if e.name == "upload_site.received"]
    assert names["upload_site.received"].schema().validate(event.payload) == {}
    assert event.payload["client_id"] == 2 and event.payload["type"] == "png"


def test_a_program_renamed_pdf_is_refused_with_a_message(upload_app: Flask) -> None:
    response = portal_upload(upload_app.test_client(), 1, (exe(), "scan.pdf"))

    assert response.status_code == 400
    assert "scan.pdf was not accepted: it is a Windows program" in response.text
    assert "although its name ends in .pdf" in response.text
    assert rows(upload_app) == []
    incoming = Path(upload_app.instance_path) / "upload_site" / "incoming"
    assert list(incoming.iterdir()) == []  # the refused file's staged copy is gone


def test_allowed_types_are_the_practice_setting(make_app: Callable[..., Flask]) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, UPLOAD_SITE_ALLOWED_TYPES="pdf")
    sign_in_portal_by_header(app)
    client = app.test_client()
    refused = portal_upload(client, 1, (png(), "photo.png"))
    assert refused.status_code == 400 and "This practice accepts PDF." in refused.text
    assert portal_upload(client, 1, (pdf(), "letter.pdf")).status_code == 303
    from core.app import plugin_manager

    with app.app_context():
        declared = plugin_manager().call_one("upload_site", "backoffice_settings")
    assert {s.key for s in declared} >= {"UPLOAD_SITE_MAX_MB", "UPLOAD_SITE_ALLOWED_TYPES"}


def test_an_empty_or_missing_file_is_refused(upload_app: Flask) -> None:
    client = upload_app.test_client()
    empty = portal_upload(client, 1, (b"", "nothing.pdf"))
    assert empty.status_code == 400 and "nothing.pdf is empty" in empty.text
    none = client.post("/upload-site/portal", data={"note": "x"}, headers=as_patient(1))
    assert none.status_code == 400 and "Choose a file" in none.text
    wordy = portal_upload(client, 1, (pdf(), "letter.pdf"), note="x" * 501)
    assert wordy.status_code == 400 and "at most 500 characters" in wordy.text
    assert rows(upload_app) == []
    incoming = Path(upload_app.instance_path) / "upload_site" / "incoming"
    assert list(incoming.iterdir()) == []


# --- too large: refused without reading it all --------------------------------------------------


class CountingStream(io.RawIOBase):
    """An endless request body that counts what the server read of it."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        data = (self.prefix + b"\0" * size)[:size] if self.read_bytes == 0 else b"\0" * size
        buffer[:size] = data
        self.read_bytes += size
        return size


BOUNDARY = "----upload-test-boundary"
PART_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="huge.pdf"\r\n'
    "Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
).encode()


@pytest.fixture
def one_mb_app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(WTF_CSRF_ENABLED=False, UPLOAD_SITE_MAX_MB=1)
    sign_in_portal_by_header(app)
    return app


def test_a_declared_oversize_body_is_refused_before_any_byte_is_read(one_mb_app: Flask) -> None:
    body = CountingStream(PART_HEAD)
    response = one_mb_app.test_client().post(
        "/upload-site/portal",
        headers=as_patient(1),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": str(50 * 1024 * 1024)},
    )
    assert response.status_code == 413
    assert "is larger than this practice" in response.text and "limit of 1.0 MB" in response.text
    assert body.read_bytes == 0
    assert rows(one_mb_app) == []


def test_a_streamed_oversize_body_is_cut_off_at_the_limit(one_mb_app: Flask) -> None:
    body = CountingStream(PART_HEAD)
    response = one_mb_app.test_client().post(
        "/upload-site/portal",
        headers={**as_patient(1), "Transfer-Encoding": "chunked", "Accept": "application/json"},
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        # No length, and what a server that de-chunks the body itself (Werkzeug's, gevent's)
        # says: the stream is read until it ends, or until the cap.
        environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": "", "wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert "limit of 1.0 MB" in response.get_json()["error"]
    assert body.read_bytes < 1024 * 1024 + 64 * 1024 + 256 * 1024  # the cap and one read
    assert rows(one_mb_app) == []


def test_several_files_share_one_limit(one_mb_app: Flask) -> None:
    half = pdf() + b"\0" * (600 * 1024)
    response = portal_upload(one_mb_app.test_client(), 1, (half, "a.pdf"), (half, "b.pdf"))
    assert response.status_code == 413 and "limit of 1.0 MB" in response.text
    assert rows(one_mb_app) == []


def _recv_all(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


@pytest.mark.live
@pytest.mark.parametrize("async_mode", ["threading", "gevent"])
def test_a_raw_chunked_upload_to_a_live_server_is_refused_at_the_limit(
    live_server_factory: Callable[..., LiveServer], async_mode: str
) -> None:
    """Werkzeug's and gevent's servers de-chunk a body themselves; the app stops reading
    at the cap and answers while the client is still sending."""
    server = live_server_factory(async_mode=async_mode, BACKOFFICE_UPLOAD_SITE_MAX_MB="1")
    link = _link_token(server)
    head = (
        f"POST /upload-site/u/{link} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    sent, answered_at = 0, None
    chunk = b"\0" * 65536
    limit = 32 * 1024 * 1024  # the client would send 32 times the practice's limit
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + f"{len(PART_HEAD):x}\r\n".encode() + PART_HEAD + b"\r\n")
        try:
            while sent < limit:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
                if socket_select.select([sock], [], [], 0)[0]:
                    answered_at = sent  # the answer is there while the body is not done
                    break
        except (BrokenPipeError, ConnectionResetError):
            answered_at = sent
        answer = _recv_all(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"limit of 1.0 MB" in answer
    assert answered_at is not None and answered_at < limit, (sent, answered_at)
    status = requests.get(f"{server.url}/upload-site/u/{link}", timeout=10)
    assert status.status_code == 200  # the link was not used up by the refused upload


def test_a_chunked_body_the_server_does_not_end_is_refused_unread(one_mb_app: Flask) -> None:
    """eventlet passes a chunked body through without saying it ends it: no length, so no
    reading, and a clear answer."""
    body = CountingStream(PART_HEAD)
    response = one_mb_app.test_client().post(
        "/upload-site/portal",
        headers={**as_patient(1), "Transfer-Encoding": "chunked"},
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": ""},
    )
    assert response.status_code == 411 and "Content-Length" in response.text
    assert body.read_bytes == 0


def _link_token(server: LiveServer) -> str:
    """A one-time upload link for client 1, made in the server's database."""
    script = (
        "from core.app import create_app\n"
        "from core.database import db\n"
        "from core.api import Client\n"
        "from plugins.upload_site.service.records import new_link\n"
        "app = create_app()\n"
        "with app.test_request_context():\n"
        "    link, token = new_link(db.session.get(Client, 1), 'sms', '+15555550101', 1)\n"
        "    db.session.commit()\n"
        "    print(token)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=server.environment(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


# --- one-time links, sent by staff --------------------------------------------------------------


def sent_link(app: Flask, client_id: int = 1, channel: str = "sms") -> str:
    staff = app.test_client()
    login(staff, "frontdesk")
    response = staff.post(f"/upload-site/clients/{client_id}/link", data={"channel": channel})
    assert response.status_code == 303, response.text
    from core.database import db
    from core.models import OutboundMessage

    with app.app_context():
        message = db.session.scalars(
            select(OutboundMessage).order_by(OutboundMessage.id.desc())
        ).first()
        assert message is not None and message.source == "upload_site"
        url = next(word for word in message.body.split() if "/upload-site/u/" in word)
    return url.split("/upload-site/u/", 1)[1]


def test_an_upload_link_works_once(upload_app: Flask) -> None:
    token = sent_link(upload_app)
    patient = upload_app.test_client()
    page = patient.get(f"/upload-site/u/{token}")
    assert page.status_code == 200 and "Alex" in page.text
    refused = patient.post(
        f"/upload-site/u/{token}", data=files((exe(), "x.pdf")), content_type="multipart/form-data"
    )
    assert refused.status_code == 400  # a refused upload does not use the link up
    done = patient.post(
        f"/upload-site/u/{token}",
        data=files((pdf(), "id.pdf"), (png(), "card.png")),
        content_type="multipart/form-data",
    )
    assert done.status_code == 200 and "2 file(s) sent" in done.text
    assert [(r.via, r.client_id) for r in rows(upload_app)] == [("link", 1), ("link", 1)]
    again = patient.post(
        f"/upload-site/u/{token}",
        data=files((pdf(), "more.pdf")),
        content_type="multipart/form-data",
    )
    assert again.status_code == 404 and "does not work" in again.text
    assert patient.get(f"/upload-site/u/{token}").status_code == 404
    assert len(rows(upload_app)) == 2
    actions = [a for a, _t, _w in audit_actions(upload_app)]
    since_sent = actions[actions.index("upload_site.link_sent") :]  # not the demo's own
    assert since_sent.count("upload_site.uploaded") == 2


def test_an_upload_link_sent_by_email_through_a_real_smtp_server(
    make_app: Callable[..., Flask],
    smtp_server: SmtpSink,  # noqa: F811
) -> None:
    app = make_app(
        WTF_CSRF_ENABLED=False,
        MAIL_SERVER=smtp_server.host,
        MAIL_PORT=smtp_server.port,
        MAIL_SUPPRESS_SEND=False,
    )
    sign_in_portal_by_header(app)
    staff = app.test_client()
    login(staff, "frontdesk")
    sent = staff.post(
        "/upload-site/clients/1/link", data={"channel": "email"}, follow_redirects=True
    )
    assert "Upload link sent to Alex Rivera by email" in sent.text
    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["alex.rivera@example.com"]
    mail = envelope.content.decode()
    token = mail.split("/upload-site/u/", 1)[1].split()[0]
    done = app.test_client().post(
        f"/upload-site/u/{token}", data=files((pdf(), "id.pdf")), content_type="multipart/form-data"
    )
    assert done.status_code == 200 and "1 file(s) sent" in done.text
    assert [(r.via, r.link_id is not None) for r in rows(app)] == [("link", True)]


def test_an_expired_or_forged_link_does_not_work(upload_app: Flask) -> None:
    token = sent_link(upload_app)
    from core.database import db
    from plugins.upload_site.models import UploadLink, utcnow

    with upload_app.app_context():
        for link in db.session.scalars(select(UploadLink)):
            link.expires_at = utcnow()
        db.session.commit()
    client = upload_app.test_client()
    assert client.get(f"/upload-site/u/{token}").status_code == 404
    assert client.get(f"/upload-site/u/{token[:-4]}abcd").status_code == 404
    with upload_app.app_context():
        from core.api import new_patient_token

        other = new_patient_token(purpose="upload_site.link", link=1)  # a subject never issued
    assert client.get(f"/upload-site/u/{other}").status_code == 404


def test_a_link_with_no_address_to_send_to_says_so(upload_app: Flask) -> None:
    staff = upload_app.test_client()
    login(staff, "frontdesk")
    response = staff.post("/upload-site/clients/3/link", data={"channel": "email"})  # no email
    assert response.status_code == 303
    page = staff.get("/upload-site/clients/3")
    assert "The upload link was not sent" in page.text


# --- the staff inbox ---------------------------------------------------------------------------


def test_inbox_unread_preview_download_and_their_audit(upload_app: Flask) -> None:
    patient = upload_app.test_client()
    portal_upload(patient, 1, (pdf(), "letter.pdf"))
    portal_upload(patient, 2, (png(), "card.png"))
    [letter, card] = rows(upload_app)
    staff = upload_app.test_client()
    login(staff, "clinician1")

    inbox = staff.get("/upload-site/")
    assert inbox.status_code == 200 and "Alex Rivera" in inbox.text and "Brooke Chen" in inbox.text
    sio = staff_socket(upload_app, "clinician1", staff)
    ack = sio.emit("upload_site.unread", {}, namespace="/staff", callback=True)
    assert ack == {"ok": True, "data": {"total": 2, "clients": {"1": 1, "2": 1}}}

    preview = staff.get(f"/upload-site/files/{letter.id}/preview")
    assert preview.status_code == 200 and preview.data == pdf()
    assert preview.headers["Content-Type"] == "application/pdf"
    assert preview.headers["X-Content-Type-Options"] == "nosniff"
    assert preview.headers["Content-Security-Policy"].startswith("sandbox;")
    assert preview.headers["Content-Disposition"].startswith('inline; filename="letter.pdf"')
    download = staff.get(f"/upload-site/files/{card.id}/download")
    assert download.status_code == 200 and download.data == png()
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert all(header in download.headers for header in SECURE_HEADERS)
    assert [r.read_at is not None for r in rows(upload_app)] == [True, True]

    staff.post(f"/upload-site/files/{letter.id}/read", data={"state": "unread"})
    ack = sio.emit("upload_site.unread", {}, namespace="/staff", callback=True)
    assert ack["data"]["total"] == 1
    actions = {(a, t) for a, t, _w in audit_actions(upload_app)}
    assert {
        ("upload_site.previewed", f"upload:{letter.id}"),
        ("upload_site.downloaded", f"upload:{card.id}"),
        ("upload_site.marked_unread", f"upload:{letter.id}"),
    } <= actions
    page = staff.get(f"/upload-site/clients/1?file={letter.id}")
    assert 'id="upload-preview-frame"' in page.text
    assert ("upload_site.files_listed", "client:1") in actions | {
        (a, t) for a, t, _w in audit_actions(upload_app)
    }


def test_staff_upload_for_a_client_is_read_already_and_not_announced(upload_app: Flask) -> None:
    sio = staff_socket(upload_app, "clinician1")
    staff = upload_app.test_client()
    login(staff, "frontdesk")
    response = staff.post(
        "/upload-site/clients/4/upload",
        data=files((png(), "scan.png")),
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    [row] = rows(upload_app)
    assert (row.client_id, row.via, row.read_at is not None) == (4, "staff", True)
    assert received(sio) == []
    refused = staff.post(
        "/upload-site/clients/4/upload",
        data=files((exe(), "setup.png")),
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "setup.png was not accepted: it is a Windows program" in refused.text


def test_delete_is_soft_audited_and_needs_its_permission(upload_app: Flask) -> None:
    patient = upload_app.test_client()
    portal_upload(patient, 1, (pdf(), "old.pdf"))
    [row] = rows(upload_app)
    frontdesk = upload_app.test_client()
    login(frontdesk, "frontdesk")  # Staff: may read, may not delete
    denied = frontdesk.post(f"/upload-site/files/{row.id}/delete")
    assert denied.status_code in {302, 403} and rows(upload_app)[0].deleted_at is None

    sio = staff_socket(upload_app, "frontdesk")
    admin = upload_app.test_client()
    login(admin, "practiceadmin")
    assert admin.post(f"/upload-site/files/{row.id}/delete").status_code == 303
    [gone] = rows(upload_app)
    assert gone.deleted_at is not None and gone.deleted_by_id is not None
    assert stored_path(upload_app, gone.storage_key).exists()  # soft: the bytes stay
    assert admin.get(f"/upload-site/files/{row.id}/preview").status_code == 404
    assert admin.get(f"/upload-site/files/{row.id}/download").status_code == 404
    assert f'data-upload-id="{row.id}"' not in admin.get("/upload-site/clients/1").text
    assert "old.pdf" not in patient.get("/upload-site/portal", headers=as_patient(1)).text
    assert received(sio, "upload_site.deleted") == [{"id": row.id, "client_id": 1}]
    assert ("upload_site.deleted", f"upload:{row.id}") in {
        (a, t) for a, t, _w in audit_actions(upload_app)
    }


# --- patient A never reaches patient B's files -----------------------------------------------


def test_a_patient_never_reaches_another_patients_files(upload_app: Flask) -> None:
    alex, brooke = upload_app.test_client(), upload_app.test_client()
    portal_upload(alex, 1, (pdf("Alex"), "alex.pdf"))
    portal_upload(brooke, 2, (png(), "brooke.png"), note="Brooke's card")
    [mine, theirs] = rows(upload_app)
    assert (mine.client_id, theirs.client_id) == (1, 2)

    listing = alex.get("/upload-site/portal", headers=as_patient(1))
    assert "alex.pdf" in listing.text
    assert "brooke.png" not in listing.text and "Brooke" not in listing.text
    for route in ("preview", "download"):
        own = alex.get(f"/upload-site/portal/files/{mine.id}/{route}", headers=as_patient(1))
        assert own.status_code == 200 and own.data == pdf("Alex")
        other = alex.get(f"/upload-site/portal/files/{theirs.id}/{route}", headers=as_patient(1))
        missing = alex.get(f"/upload-site/portal/files/999999/{route}", headers=as_patient(1))
        assert other.status_code == missing.status_code == 404  # not even "forbidden"
        assert other.data == missing.data
    # A patient cannot aim an upload at someone else: the portal's client is the only owner.
    alex.post(
        "/upload-site/portal",
        data={**files((pdf(), "aimed.pdf")), "client_id": "2"},
        headers=as_patient(1),
        content_type="multipart/form-data",
    )
    assert [r.client_id for r in rows(upload_app) if r.original_name == "aimed.pdf"] == [1]
    # Not signed in: nothing at all, only the way to the portal's sign-in.
    stranger = upload_app.test_client()
    prompt = stranger.get("/upload-site/portal")
    assert prompt.status_code == 200 and "Sign in first" in prompt.text
    assert "alex.pdf" not in prompt.text
    for url in (
        f"/upload-site/portal/files/{mine.id}/preview",
        f"/upload-site/portal/files/{mine.id}/download",
    ):
        response = stranger.get(url)
        assert response.status_code == 303 and response.headers["Location"] == "/upload-site/portal"
    sneaked = stranger.post(
        "/upload-site/portal",
        data=files((pdf(), "sneaked.pdf")),
        content_type="multipart/form-data",
    )
    assert sneaked.status_code == 303 and "sneaked.pdf" not in [
        r.original_name for r in rows(upload_app)
    ]
    # Staff routes are closed to patients, with or without a portal sign-in.
    for url in (
        "/upload-site/",
        "/upload-site/clients/2",
        f"/upload-site/files/{theirs.id}/preview",
        f"/upload-site/files/{theirs.id}/download",
    ):
        response = alex.get(url, headers=as_patient(1))
        assert response.status_code in {302, 401, 403}, url
        assert theirs.original_name not in response.text
    # A one-time link only uploads: it lists and shows nothing, not even its own client's files.
    token = sent_link(upload_app, client_id=2)
    page = alex.get(f"/upload-site/u/{token}")
    assert (
        page.status_code == 200
        and "brooke.png" not in page.text
        and "Brooke's card" not in page.text
    )
    served = [r.original_name for r in rows(upload_app) if r.client_id == 2]
    assert served == ["brooke.png"]
    audit = audit_actions(upload_app)
    assert ("upload_site.portal_downloaded", f"upload:{theirs.id}", "client:1") not in audit


def test_patient_sockets_have_no_upload_events_and_hear_no_uploads(upload_app: Flask) -> None:
    from core.api import new_patient_token

    with upload_app.app_context():
        token = new_patient_token(purpose="upload_site.link", link=1)
    patient = socketio_of(upload_app).test_client(
        upload_app, namespace="/patient", auth={"token": token}
    )
    assert patient.is_connected("/patient")
    for name, payload in (
        ("upload_site.unread", {}),
        ("upload_site.client_files", {"client_id": 2}),
    ):
        ack = patient.emit(name, payload, namespace="/patient", callback=True)
        assert ack["error"]["code"] == "unknown_event", (name, ack)
    portal_upload(upload_app.test_client(), 2, (png(), "brooke.png"))
    assert [
        m for m in patient.get_received("/patient") if m["name"].startswith("upload_site")
    ] == []


def test_staff_socket_snapshot_of_a_client(upload_app: Flask) -> None:
    portal_upload(upload_app.test_client(), 2, (png(), "brooke.png"))
    sio = staff_socket(upload_app, "frontdesk")
    ack = sio.emit("upload_site.client_files", {"client_id": 2}, namespace="/staff", callback=True)
    assert ack["ok"] and [f["name"] for f in ack["data"]] == ["brooke.png"]
    missing = sio.emit(
        "upload_site.client_files", {"client_id": 999}, namespace="/staff", callback=True
    )
    assert missing["error"]["code"] == "not_found"
    bad = sio.emit(
        "upload_site.client_files", {"client_id": "2"}, namespace="/staff", callback=True
    )
    assert bad["error"]["code"] == "invalid"
    denied = staff_socket(upload_app, "secadmin").emit(
        "upload_site.client_files", {"client_id": 2}, namespace="/staff", callback=True
    )
    assert denied["error"]["code"] == "forbidden"


# --- the S3 backend, against moto's server -----------------------------------------------------


@pytest.fixture
def moto_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                requests.get(url + "/moto-api/", timeout=1)
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_the_s3_backend_keeps_and_serves_files(
    make_app: Callable[..., Flask], moto_server: str
) -> None:
    import boto3

    settings = {
        "UPLOAD_SITE_STORAGE": "s3",
        "UPLOAD_SITE_S3_BUCKET": "practice-uploads",
        "UPLOAD_SITE_S3_ENDPOINT_URL": moto_server,
        "UPLOAD_SITE_S3_REGION": "us-east-1",
        "UPLOAD_SITE_S3_ACCESS_KEY": "testing",
        "UPLOAD_SITE_S3_SECRET_KEY": "testing",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="practice-uploads")
    app = make_app(WTF_CSRF_ENABLED=False, **settings)
    sign_in_portal_by_header(app)
    document = pdf("Stored in S3") + b"\0" * (300 * 1024)  # past one 64 KiB chunk

    assert portal_upload(app.test_client(), 1, (document, "s3.pdf")).status_code == 303
    [row] = rows(app)
    assert row.storage_backend == "s3"
    stored = s3.get_object(Bucket="practice-uploads", Key=f"uploads/{row.storage_key}")
    assert stored["Body"].read() == document
    assert not (Path(app.instance_path) / "upload_site").exists()
    staff = app.test_client()
    login(staff, "clinician1")
    download = staff.get(f"/upload-site/files/{row.id}/download")
    assert download.status_code == 200 and download.data == document
    mine = app.test_client().get(
        f"/upload-site/portal/files/{row.id}/preview", headers=as_patient(1)
    )
    assert mine.status_code == 200 and mine.data == document
    assert hashlib.sha256(download.data).hexdigest() == row.sha256

    s3.delete_object(Bucket="practice-uploads", Key=f"uploads/{row.storage_key}")
    lost = staff.get(f"/upload-site/files/{row.id}/download")
    assert lost.status_code == 404 and "stored file is missing" in lost.text


def test_a_store_that_refuses_leaves_no_row(
    make_app: Callable[..., Flask], moto_server: str
) -> None:
    app = make_app(
        WTF_CSRF_ENABLED=False,
        UPLOAD_SITE_STORAGE="s3",
        UPLOAD_SITE_S3_BUCKET="no-such-bucket",
        UPLOAD_SITE_S3_ENDPOINT_URL=moto_server,
        UPLOAD_SITE_S3_REGION="us-east-1",
        UPLOAD_SITE_S3_ACCESS_KEY="testing",
        UPLOAD_SITE_S3_SECRET_KEY="testing",
    )
    sign_in_portal_by_header(app)
    response = portal_upload(app.test_client(), 1, (pdf(), "lost.pdf"))
    assert response.status_code == 503 and "did not take the upload" in response.text
    assert rows(app) == []


def test_inbox_pages_stay_in_the_dock(upload_app: Flask) -> None:
    portal_upload(upload_app.test_client(), 1, (pdf(), "letter.pdf"))
    [row] = rows(upload_app)
    staff = upload_app.test_client()
    login(staff, "frontdesk")
    opened = staff.get("/upload-site/?client=1&dock=1")
    assert (
        opened.status_code == 303 and opened.headers["Location"] == "/upload-site/clients/1?dock=1"
    )
    page = staff.get("/upload-site/clients/1?dock=1")
    assert f"/upload-site/clients/1?file={row.id}&amp;dock=1" in page.text
    assert f'action="/upload-site/files/{row.id}/read?dock=1"' in page.text
    marked = staff.post(f"/upload-site/files/{row.id}/read?dock=1", data={"state": "read"})
    assert marked.headers["Location"] == "/upload-site/clients/1?dock=1"
    outside = staff.get("/upload-site/clients/1").text  # its menu still opens the dock
    assert f"/upload-site/clients/1?file={row.id}&amp;dock=1" not in outside
    assert f"/upload-site/clients/1?file={row.id}" in outside
    assert f'action="/upload-site/files/{row.id}/read"' in outside


def test_upload_routes_answer_bad_bodies_with_a_4xx(upload_app: Flask) -> None:
    """The host's bad-input sweep reaches the link page only with a dead token and the portal
    pages signed out: here each body goes to every write route of the plugin past its key
    (a live link, a portal sign-in, an admin), as well as oddly typed multipart parts."""
    from tests.test_bad_input import BODIES, response_problem

    portal_upload(upload_app.test_client(), 1, (pdf(), "keep.pdf"))
    [row] = rows(upload_app)
    admin = upload_app.test_client()
    login(admin, "admin")
    patient = upload_app.test_client()
    odd_parts: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("a text part named file", lambda: {"file": "not a file"}),
        ("a file with no name", lambda: {"file": (io.BytesIO(pdf()), "")}),
        ("a NUL in the file name", lambda: {"file": (io.BytesIO(pdf()), "a\x00b.pdf")}),
        ("a 3000-character file name", lambda: {"file": (io.BytesIO(pdf()), "x" * 3000 + ".pdf")}),
        ("eleven files", lambda: {"file": [(io.BytesIO(pdf()), f"{n}.pdf") for n in range(11)]}),
    ]
    problems: list[str] = []
    for label, body in [(b.label, b) for b in BODIES] + odd_parts:
        token = sent_link(upload_app)  # each try gets a live link
        targets = [
            (patient, "/upload-site/portal", as_patient(1)),
            (patient, f"/upload-site/u/{token}", {}),
            (admin, "/upload-site/clients/1/upload", {}),
            (admin, "/upload-site/clients/1/link", {}),
            (admin, f"/upload-site/files/{row.id}/read", {}),
        ]
        for client, url, headers in targets:
            if callable(body):
                response = client.post(
                    url, data=body(), headers=headers, content_type="multipart/form-data"
                )
            else:
                response = client.post(
                    url, data=body.data, headers=headers, content_type=body.content_type
                )
            problem = response_problem(response)
            if problem:
                problems.append(f"{label} -> POST {url}: {problem}")
    assert problems == []
    names = [r.original_name for r in rows(upload_app)]
    assert "ab.pdf" in names  # a real PDF with an odd name is kept under a clean one
    assert all(name and "\x00" not in name and len(name) <= 200 for name in names), names
    assert not any(name.startswith(("0.pdf", "10.pdf")) for name in names)  # 11 files: refused


def test_the_demo_practice_has_one_reviewed_upload(app: Flask) -> None:
    from core.database import db
    from plugins.upload_site.models import UploadedFile
    from plugins.upload_site.service.demo import seed

    with app.app_context():
        [demo] = db.session.scalars(select(UploadedFile)).all()  # seeded with the template
        assert (demo.client_id, demo.extension, demo.read_at is not None) == (1, "pdf", True)
        seed()  # idempotent
        assert db.session.query(UploadedFile).count() == 1
    staff = app.test_client()
    login(staff, "clinician1")
    # This test's instance folder is not the one the template was seeded into: no bytes.
    missing = staff.get(f"/upload-site/files/{demo.id}/preview")
    assert missing.status_code == 404 and "stored file is missing" in missing.text
