"""The Upload Site's pages: the staff inbox (Flask-AppBuilder) and the patients' pages.

Patients reach their pages two ways: signed in to the patient portal (``portal_client()``;
"My uploads" lists, previews and downloads their own files and nothing else), or through
a one-time upload link, which can only upload: it never lists or shows a file.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_appbuilder import BaseView, expose, has_access
from flask_login import current_user
from sqlalchemy import select

from core.api import (
    MAX_ID,
    Client,
    InvalidRecipient,
    audit,
    db_session,
    emit_domain_event,
    normalise_email,
    normalise_phone,
    notify,
    portal_client,
    public_route,
    send_email,
    send_sms,
)
from plugins.upload_site.models import UploadedFile, UploadLink, utcnow
from plugins.upload_site.service.intake import (
    PATIENT_BASES,
    PREVIEWABLE,
    StagedFile,
    UploadRefused,
    describe_allowed,
    max_bytes,
    max_files,
    size_text,
    stage,
)
from plugins.upload_site.service.records import (
    READ_PERMISSION,
    SOURCE,
    announce,
    claim,
    forget,
    inbox,
    keep,
    link_url,
    live_file,
    live_files,
    mark_read,
    new_link,
    open_link,
    summary,
)
from plugins.upload_site.service.storage import (
    StorageError,
    StoredFileMissing,
    discard,
    storage,
)

NOTE_MAX = 500
#: A preview is a document on its own: no script, no plugin, no form, no same-origin access.
PREVIEW_CSP = (
    "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'"
)


# --- shared: receiving files and sending them back ---------------------------------------------


def receive() -> list[StagedFile]:
    """The request's files, staged and checked, within the practice's limits together."""
    parts = [part for part in request.files.getlist("file") if part and part.filename]
    if not parts:
        raise UploadRefused("Choose a file to upload.")
    if len(parts) > max_files():
        raise UploadRefused(f"Upload at most {max_files()} files at a time.")
    staged: list[StagedFile] = []
    try:
        budget = max_bytes()
        for part in parts:
            item = stage(part.stream, part.filename, budget)
            budget -= item.size
            staged.append(item)
    except BaseException:
        for item in staged:
            discard(item.path)
        raise
    return staged


def note_field() -> str | None:
    note = " ".join(request.form.get("note", "").split())
    if len(note) > NOTE_MAX:
        raise UploadRefused(f"The note holds at most {NOTE_MAX} characters.")
    return note or None


def _ascii_name(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text if ch.isalnum() or ch in " ._-()").strip() or "document"


def file_response(row: UploadedFile, *, inline: bool) -> Response:
    """The stored bytes with headers that keep a browser from treating them as a page."""
    try:
        chunks = storage().chunks(row.storage_key)
        first = next(chunks, b"")
    except StoredFileMissing:
        current_app.logger.error("upload %s: its stored file is missing", row.id)
        abort(404, description="The stored file is missing: ask the practice to upload it again.")
    except StorageError as exc:
        current_app.logger.warning("upload %s: %s", row.id, exc)
        abort(503, description="The file store does not answer: try again in a moment.")

    def body() -> Iterator[bytes]:
        yield first
        yield from chunks

    name = row.download_name
    disposition = "inline" if inline else "attachment"
    response = Response(body(), mimetype=row.content_type, direct_passthrough=True)
    response.headers.update(
        {
            "Content-Length": str(row.size),
            "Content-Disposition": (
                f"{disposition}; filename=\"{_ascii_name(name)}\"; filename*=UTF-8''{quote(name)}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": PREVIEW_CSP,
            "Cache-Control": "private, no-store",
            "Cross-Origin-Resource-Policy": "same-origin",
        }
    )
    return response


def _keep_or_refuse(staged: list[StagedFile], **kwargs: Any) -> list[UploadedFile]:
    rows: list[UploadedFile] = []
    try:
        rows = keep(staged, **kwargs)
        db_session().commit()
    except StorageError as exc:
        db_session().rollback()
        current_app.logger.warning("upload not stored: %s", exc)
        raise UploadRefused("The file store did not take the upload: try again.", 503) from exc
    except BaseException:
        db_session().rollback()
        forget(rows)
        raise
    announce(rows)
    return rows


def in_dock() -> bool:
    return request.args.get("dock") == "1"


def staff_url(endpoint: str, **values: Any) -> str:
    """A staff page's URL; inside the dock, one that stays in the dock (``dock=1``)."""
    return url_for(endpoint, **values, **({"dock": "1"} if in_dock() else {}))


STAFF_BASES = ("backoffice/dock_page.html", "appbuilder/base.html")


# --- staff: the inbox -------------------------------------------------------------------------


class UploadInboxView(BaseView):
    """Uploads per client, unread first; preview, download, mark, delete (soft), upload and
    send a one-time upload link. Every look at a file is audited."""

    route_base = "/upload-site"
    default_view = "index"
    class_permission_name = "UploadInbox"
    method_permission_name = {
        "index": "read",
        "client": "read",
        "preview": "read",
        "download": "read",
        "mark": "read",
        "upload": "upload",
        "send_link": "request",
        "delete": "delete",
    }
    base_permissions = ["can_read", "can_upload", "can_request", "can_delete"]

    @expose("/")
    @has_access
    def index(self) -> Any:
        wanted = request.args.get("client", "")
        if wanted.isascii() and wanted.isdigit() and int(wanted) <= MAX_ID:
            return redirect(staff_url("UploadInboxView.client", pk=int(wanted)), 303)
        rows = inbox()
        clients = list(db_session().scalars(select(Client).order_by(Client.last_name)))
        return self.render_template("upload_site/inbox.html", rows=rows, clients=clients)

    @expose("/clients/<int:pk>")
    @has_access
    def client(self, pk: int) -> Any:
        client = db_session().get(Client, pk)
        if client is None:
            abort(404)
        files = live_files(pk)
        selected = next((f for f in files if str(f.id) == request.args.get("file", "")), None)
        audit(
            "upload_site.files_listed",
            target=f"client:{pk}",
            details={"files": [f.id for f in files]},
            source=SOURCE,
        )
        db_session().commit()
        return self.render_template(
            "upload_site/client.html",
            client=client,
            files=[summary(f) for f in files],
            selected=summary(selected) if selected else None,
            sm=self.appbuilder.sm,
            allowed=describe_allowed(),
            limit=size_text(max_bytes()),
            max_files=max_files(),
        )

    @expose("/files/<int:pk>/preview")
    @has_access
    def preview(self, pk: int) -> Any:
        row = self._looked_at(pk, "upload_site.previewed")
        if row.extension not in PREVIEWABLE:
            return self._problem(f"{row.download_name} cannot be shown here: download it.", 415)
        return file_response(row, inline=True)

    @expose("/files/<int:pk>/download")
    @has_access
    def download(self, pk: int) -> Any:
        return file_response(self._looked_at(pk, "upload_site.downloaded"), inline=False)

    def _looked_at(self, pk: int, action: str) -> UploadedFile:
        row = live_file(pk)
        if row is None:
            abort(404)
        mark_read(row, current_user.id)
        audit(action, target=f"upload:{pk}", details={"client_id": row.client_id}, source=SOURCE)
        db_session().commit()
        return row

    @expose("/files/<int:pk>/read", methods=["POST"])
    @has_access
    def mark(self, pk: int) -> Any:
        row = live_file(pk)
        if row is None:
            abort(404)
        unread = request.form.get("state") == "unread"
        if unread:
            row.read_at = row.read_by_id = None
        else:
            mark_read(row, current_user.id)
        audit(
            "upload_site.marked_unread" if unread else "upload_site.marked_read",
            target=f"upload:{pk}",
            details={"client_id": row.client_id},
            source=SOURCE,
        )
        db_session().commit()
        return redirect(staff_url("UploadInboxView.client", pk=row.client_id), 303)

    @expose("/files/<int:pk>/delete", methods=["POST"])
    @has_access
    def delete(self, pk: int) -> Any:
        row = live_file(pk)
        if row is None:
            abort(404)
        row.deleted_at = utcnow()
        row.deleted_by_id = current_user.id
        audit(
            "upload_site.deleted",
            target=f"upload:{pk}",
            details={"client_id": row.client_id, "name": row.download_name},
            source=SOURCE,
        )
        db_session().commit()
        notify(
            "upload_site.deleted",
            {"id": pk, "client_id": row.client_id},
            permission=READ_PERMISSION,
        )
        emit_domain_event(
            "upload_site.deleted", {"upload_id": pk, "client_id": row.client_id}, source=SOURCE
        )
        flash(f"{row.download_name} was deleted.", "success")
        return redirect(staff_url("UploadInboxView.client", pk=row.client_id), 303)

    @expose("/clients/<int:pk>/upload", methods=["POST"])
    @has_access
    def upload(self, pk: int) -> Any:
        client = db_session().get(Client, pk)
        if client is None:
            abort(404)
        try:
            note = note_field()  # before staging: a refusal here leaves nothing on disk
            rows = _keep_or_refuse(
                receive(), client_id=pk, via="staff", note=note, user_id=current_user.id
            )
        except UploadRefused as exc:
            flash(exc.message, "danger")
            return redirect(staff_url("UploadInboxView.client", pk=pk), 303)
        flash(f"{len(rows)} file(s) added to {client.full_name}'s uploads.", "success")
        return redirect(staff_url("UploadInboxView.client", pk=pk), 303)

    @expose("/clients/<int:pk>/link", methods=["POST"])
    @has_access
    def send_link(self, pk: int) -> Any:
        client = db_session().get(Client, pk)
        if client is None:
            abort(404)
        channel = request.form.get("channel", "")
        back = redirect(staff_url("UploadInboxView.client", pk=pk), 303)
        try:
            recipient = _recipient(client, channel, request.form.get("recipient", ""))
        except InvalidRecipient as exc:
            flash(f"The upload link was not sent: {exc}", "danger")
            return back
        link, token = new_link(client, channel, recipient, current_user.id)
        try:
            message = _deliver(client, link, channel, recipient, link_url(token))
        except InvalidRecipient as exc:
            db_session().rollback()
            flash(f"The upload link was not sent: {exc}", "danger")
            return back
        link.message_id = message.id
        link.message_status = message.status
        audit(
            "upload_site.link_sent",
            target=f"upload_link:{link.id}",
            details={"client_id": pk, "channel": channel, "status": message.status},
            source=SOURCE,
        )
        db_session().commit()
        if message.status == "failed":
            flash(f"The upload link could not be sent: {message.error}", "danger")
        else:
            flash(f"Upload link sent to {client.full_name} by {_channel(channel)}.", "success")
        return back

    def render_template(self, template: str, **kwargs: Any) -> Any:
        """Every page of the inbox, inside the dock (``?dock=1``) on the host's dock base."""
        base = "appbuilder/base.html"
        if in_dock():
            base = current_app.jinja_env.select_template(STAFF_BASES)
        return super().render_template(template, staff_base=base, staff_url=staff_url, **kwargs)

    def _problem(self, message: str, status: int) -> Any:
        return self.render_template("upload_site/problem.html", message=message), status


def _channel(channel: str) -> str:
    return "SMS" if channel == "sms" else "email"


def _recipient(client: Client, channel: str, given: str) -> str:
    if channel == "email":
        return normalise_email(given.strip() or client.email or "")
    if channel == "sms":
        return normalise_phone(given.strip() or client.phone or "")
    raise InvalidRecipient("choose email or SMS")


def _deliver(client: Client, link: UploadLink, channel: str, recipient: str, url: str) -> Any:
    practice = current_app.config.get("PRACTICE_NAME", "")
    expires = link.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    if channel == "sms":
        text = (
            f"{practice}: please upload your documents securely here "
            f"(one use, until {expires}): {url}"
        )
        return send_sms(recipient, text, source=SOURCE)
    body = (
        f"Hello {client.first_name},\n\n{practice} asks you to upload documents through this "
        f"secure link:\n\n{url}\n\nThe link works once and until {expires}.\n\n{practice}\n"
    )
    return send_email(recipient, f"Upload your documents for {practice}", body, source=SOURCE)


# --- patients ------------------------------------------------------------------------------------

patient_pages = Blueprint("upload_site_patient", __name__, url_prefix="/upload-site")
PORTAL_REASON = "a patient's own uploads; the patient-portal sign-in is the key"
LINK_REASON = "a one-time upload link; its signed, expiring, single-use token is the key"
UPLOAD_ENDPOINTS = frozenset(
    {
        "UploadInboxView.upload",
        "upload_site_patient.portal_upload",
        "upload_site_patient.link_upload",
    }
)


def _practice() -> str:
    return str(current_app.config.get("PRACTICE_NAME", ""))


#: The portal's frame when the portal plugin is there; else the host's patient base.
PORTAL_BASES = ("portal/section.html", *PATIENT_BASES)


def _patient_page(template: str, status: int = 200, **context: Any) -> Any:
    env = current_app.jinja_env
    return render_template(
        template,
        patient_base=env.select_template(PATIENT_BASES),
        portal_base=env.select_template(PORTAL_BASES),
        practice_name=_practice(),
        allowed=describe_allowed(),
        limit=size_text(max_bytes()),
        max_files=max_files(),
        **context,
    ), status


def _signed_in() -> Client:
    client = portal_client()
    if client is None:  # like a staff page sends to the login: to the sign-in prompt
        abort(redirect(url_for("upload_site_patient.portal"), 303))
    return client


@patient_pages.route("/portal", methods=["GET"])
@public_route(PORTAL_REASON)
def portal() -> Any:
    client = portal_client()
    if client is None:
        return _patient_page(
            "upload_site/message.html",
            title="Sign in first",
            message="Sign in to the patient portal to see and send your documents.",
            sign_in=current_app.config["UPLOAD_SITE_PORTAL_SIGN_IN_URL"],
        )
    return _portal_page(client, {})


def _portal_page(client: Client, errors: dict[str, str], status: int = 200) -> Any:
    files = live_files(client.id)
    audit(
        "upload_site.portal_listed",
        target=f"client:{client.id}",
        details={"files": [f.id for f in files]},
        source=SOURCE,
        actor=f"client:{client.id}",
    )
    db_session().commit()
    return _patient_page(
        "upload_site/portal.html",
        status,
        client=client,
        files=files,
        errors=errors,
        portal_section="upload_site",  # the portal's navigation marks its section
    )


@patient_pages.route("/portal", methods=["POST"])
@public_route(PORTAL_REASON)
def portal_upload() -> Any:
    client = _signed_in()
    try:
        note = note_field()
        rows = _keep_or_refuse(
            receive(), client_id=client.id, via="portal", actor=f"client:{client.id}", note=note
        )
    except UploadRefused as exc:
        return _portal_page(client, {"file": exc.message}, exc.status)
    flash(f"Thank you: {len(rows)} file(s) sent to {_practice()}.", "success")
    return redirect(url_for("upload_site_patient.portal"), 303)


@patient_pages.route("/portal/files/<int:pk>/preview")
@public_route(PORTAL_REASON)
def portal_preview(pk: int) -> Any:
    row = _own_file(pk, "upload_site.portal_previewed")
    if row.extension not in PREVIEWABLE:
        abort(404)
    return file_response(row, inline=True)


@patient_pages.route("/portal/files/<int:pk>/download")
@public_route(PORTAL_REASON)
def portal_download(pk: int) -> Any:
    return file_response(_own_file(pk, "upload_site.portal_downloaded"), inline=False)


def _own_file(pk: int, action: str) -> UploadedFile:
    """The signed-in patient's file; someone else's is exactly as missing as no file."""
    client = _signed_in()
    row = live_file(pk, client_id=client.id)
    if row is None:
        abort(404)
    audit(action, target=f"upload:{pk}", source=SOURCE, actor=f"client:{client.id}")
    db_session().commit()
    return row


@patient_pages.route("/u/<token>", methods=["GET"])
@public_route(LINK_REASON)
def link_form(token: str) -> Any:
    link = open_link(token)
    if link is None:
        return _link_gone()
    return _patient_page("upload_site/link.html", link=link, token=token, errors={})


@patient_pages.route("/u/<token>", methods=["POST"])
@public_route(LINK_REASON)
def link_upload(token: str) -> Any:
    link = open_link(token)
    if link is None:
        return _link_gone()
    try:
        note = note_field()
        staged = receive()
        if not claim(link):  # another upload through the same link got there first
            for item in staged:
                discard(item.path)
            return _link_gone()
        rows = _keep_or_refuse(
            staged,
            client_id=link.client_id,
            via="link",
            actor=f"client:{link.client_id}",
            note=note,
            link=link,
        )
    except UploadRefused as exc:
        db_session().rollback()
        return _patient_page(
            "upload_site/link.html",
            exc.status,
            link=link,
            token=token,
            errors={"file": exc.message},
        )
    return _patient_page(
        "upload_site/message.html",
        title="Thank you",
        message=f"{len(rows)} file(s) sent to {_practice()}. This link has now been used.",
    )


def _link_gone() -> Any:
    return _patient_page(
        "upload_site/message.html",
        404,
        title="This upload link does not work",
        message="It was already used, has expired or is not complete. Ask the practice "
        "for a new one.",
    )
