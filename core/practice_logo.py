"""The practice's logo, uploaded in Settings and kept in the database with the other
practice settings (every worker serves it, no shared folder needed).

The type is decided from the content (``filetype``), never the name: PNG, JPEG, GIF or
WebP only (an SVG can carry script). The workers' settings keep only its type and hash;
the bytes are read when ``/practice-logo`` is asked for, which serves them to anyone,
patients' pages included, at a versioned address that browsers cache for good.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import filetype  # type: ignore[import-untyped]
from flask import Response, abort, url_for

from core.inputs import file_type_words
from core.practice_settings import BLOB_PREFIX, store_internal, stored, stored_blob, value

KEY = "core.practice_logo"
BYTES_KEY = BLOB_PREFIX + "practice_logo"
MAX_BYTES = 512 * 1024
TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


class LogoError(ValueError):
    """An upload refused; the message says why."""


def store_logo(data: bytes, *, actor: str | None = None) -> None:
    """Keep ``data`` as the practice's logo, audited (``setting.changed``), in one commit."""
    if not data:
        raise LogoError("Choose an image file to upload.")
    if len(data) > MAX_BYTES:
        raise LogoError(f"The logo is too large: at most {MAX_BYTES // 1024} KB.")
    kind = filetype.guess(data)
    if kind is None or kind.extension not in TYPES:
        what = file_type_words(None if kind is None else kind.extension)
        raise LogoError(f"The logo must be a PNG, JPEG, GIF or WebP image; this is {what}.")
    logo = {"type": TYPES[kind.extension], "sha256": hashlib.sha256(data).hexdigest()}
    store_internal(
        {KEY: logo, BYTES_KEY: base64.b64encode(data).decode()}, actor=actor, opaque=True
    )


def remove_logo(*, actor: str | None = None) -> None:
    store_internal({KEY: None, BYTES_KEY: None}, actor=actor, opaque=True)


def _stored_logo() -> dict[str, Any] | None:
    logo = stored(KEY)
    return logo if isinstance(logo, dict) and logo.get("sha256") else None


def logo_url() -> str | None:
    """The uploaded logo's address, else the configured ``PRACTICE_LOGO_URL``, else none."""
    logo = _stored_logo()
    if logo is not None:
        return url_for("practice_logo", v=str(logo["sha256"])[:12])
    return value("PRACTICE_LOGO_URL") or None


def serve_logo() -> Response:
    logo, data = _stored_logo(), stored_blob(BYTES_KEY)
    if logo is None or not isinstance(data, str):
        abort(404)
    response = Response(base64.b64decode(data), mimetype=str(logo["type"]))
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
