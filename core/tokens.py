"""Signed, expiring, unguessable tokens for patients, who have no account."""

from __future__ import annotations

import secrets
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

_SALT = "backoffice.patient"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def new_patient_token(**claims: Any) -> str:
    """A token naming a fresh 128-bit random subject plus the caller's claims."""
    payload = {"sub": secrets.token_urlsafe(16), **claims}
    return _serializer().dumps(payload)


def verify_patient_token(token: str, max_age: int | None = None) -> dict[str, Any] | None:
    """The token's claims, or ``None`` when it is forged, malformed or expired."""
    age = max_age if max_age is not None else current_app.config["PATIENT_TOKEN_MAX_AGE"]
    try:
        claims = _serializer().loads(token, max_age=age)
    except BadSignature:
        return None
    return claims if isinstance(claims, dict) and "sub" in claims else None
