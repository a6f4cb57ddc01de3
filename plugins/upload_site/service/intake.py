"""Taking an upload in: the practice's limits, the type decided from the content, and a
staged copy on disk with its running byte count and SHA-256.

The request body never sits in memory whole: the host caps the request at the limit
before anything reads it (see ``limit_request``), Werkzeug spools file parts to disk, and
each part is copied in chunks to the storage's staging folder while it is counted and
hashed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import filetype
from flask import abort, current_app, make_response, render_template, request

from core.api import file_type_words, setting
from plugins.upload_site.service.storage import CHUNK, discard, storage

log = logging.getLogger(__name__)

#: Core's patient page base once it exists; until then this plugin's own.
PATIENT_BASES = ("backoffice/patient_base.html",)
#: Room for the multipart framing and the form's small fields around the files.
FORM_OVERHEAD = 64 * 1024
SNIFF_BYTES = 8192  # what filetype reads
LENGTH_REQUIRED = (
    "Send the upload with a Content-Length header (this server does not take chunked uploads)."
)

#: Every kind a practice may allow: extension (as filetype names it) -> what people call it.
KNOWN_TYPES: dict[str, str] = {
    "pdf": "PDF",
    "jpg": "JPEG image",
    "png": "PNG image",
    "gif": "GIF image",
    "webp": "WebP image",
    "heic": "HEIC photo (iPhone)",
    "avif": "AVIF image",
    "tif": "TIFF image",
    "bmp": "BMP image",
    "docx": "Word document",
    "doc": "Word 97-2003 document",
    "odt": "OpenDocument text",
    "xlsx": "Excel workbook",
    "rtf": "RTF document",
}
ALIASES = {"jpeg": "jpg", "tiff": "tif"}
#: What a browser shows inline by itself; everything else is download-only.
PREVIEWABLE = {"pdf", "jpg", "png", "gif", "webp"}


class UploadRefused(ValueError):
    """An upload the practice's rules do not take; the message is for the uploader."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class StagedFile:
    """An accepted file on disk in the staging folder, not yet kept."""

    path: Path
    size: int
    sha256: str
    extension: str
    content_type: str
    original_name: str

    @property
    def previewable(self) -> bool:
        return self.extension in PREVIEWABLE


def max_bytes() -> int:
    return max(1, int(setting("UPLOAD_SITE_MAX_MB"))) * 1024 * 1024


def max_files() -> int:
    return max(1, int(setting("UPLOAD_SITE_MAX_FILES")))


def allowed_types() -> list[str]:
    """The practice's allowed kinds, in its order; names it does not know are skipped."""
    wanted = re.split(r"[\s,;]+", str(setting("UPLOAD_SITE_ALLOWED_TYPES")).lower())
    kinds: list[str] = []
    for name in wanted:
        kind = ALIASES.get(name.strip("."), name.strip("."))
        if kind in KNOWN_TYPES and kind not in kinds:
            kinds.append(kind)
        elif kind and kind not in KNOWN_TYPES:
            log.warning("UPLOAD_SITE_ALLOWED_TYPES: %r is not a type the Upload Site knows", name)
    return kinds


def describe_allowed() -> str:
    return ", ".join(KNOWN_TYPES[kind] for kind in allowed_types()) or "none"


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def too_large_message() -> str:
    return f"The upload is larger than this practice's limit of {size_text(max_bytes())}."


def clean_name(name: str | None) -> str:
    """The uploader's file name without folders, control characters or odd lengths."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(
        ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C"
    )
    base = base.strip().strip(".") or "document"
    if len(base) > 200:
        stem, dot, ext = base.rpartition(".")
        base = (stem[:190] + dot + ext[:9]) if dot and len(ext) < 10 else base[:200]
    return base


# --- the request cap, applied before anything reads the body --------------------------------


def limit_request() -> None:
    """Refuse a body declared too large at once, and cap a streamed (chunked) one: Werkzeug
    stops reading when the count passes the cap. Runs before the host's own before-request
    guards, which read the form."""
    cap = max_bytes() + FORM_OVERHEAD
    if request.content_length is not None and request.content_length > cap:
        abort(too_large_response())
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if chunked and "wsgi.input_terminated" not in request.environ:
        # A streamed body the server does not end for us (eventlet): Werkzeug would read
        # nothing of it, and the uploader would be told they sent no file.
        abort(make_response({"error": LENGTH_REQUIRED}, 411))
    request.max_content_length = cap


def too_large_response() -> object:
    message = too_large_message()
    if request.accept_mimetypes.best == "application/json":
        response = make_response({"error": message}, 413)
    else:
        page = render_template(
            "upload_site/refused.html",
            message=message,
            patient_base=current_app.jinja_env.select_template(PATIENT_BASES),
            practice_name=current_app.config.get("PRACTICE_NAME", ""),
        )
        response = make_response(page, 413)
    response.headers["Connection"] = "close"  # the rest of the body is never read
    return response


# --- one file part -------------------------------------------------------------------------


def stage(part: IO[bytes], filename: str | None, budget: int) -> StagedFile:
    """Copy one file part to the staging folder, counting and hashing as it goes; refuse it
    when it passes ``budget`` bytes or is not an allowed type."""
    name = clean_name(filename)
    digest = hashlib.sha256()
    head = b""
    size = 0
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept past the with: it is staged)
        dir=storage().staging_dir(), delete=False, prefix="up-"
    )
    path = Path(handle.name)
    try:
        with handle:
            while chunk := part.read(CHUNK):
                size += len(chunk)
                if size > budget:
                    raise UploadRefused(too_large_message(), 413)
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                digest.update(chunk)
                handle.write(chunk)
        if size == 0:
            raise UploadRefused(f"{name} is empty.")
        kind = filetype.guess(head)
        if kind is None or kind.extension not in allowed_types():
            raise UploadRefused(refusal(name, kind.extension if kind else ""))
        return StagedFile(path, size, digest.hexdigest(), kind.extension, kind.mime, name)
    except BaseException:
        discard(path)
        raise


def refusal(name: str, extension: str) -> str:
    claimed = name.rpartition(".")[2].lower() if "." in name else ""
    what = file_type_words(extension or None, otherwise=KNOWN_TYPES.get(extension))
    looks = f" although its name ends in .{claimed}" if claimed and claimed != extension else ""
    return (
        f"{name} was not accepted: it is {what}{looks}. This practice accepts {describe_allowed()}."
    )
