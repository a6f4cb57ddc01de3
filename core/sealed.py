"""Secret practice settings at rest: sealed with Fernet (``cryptography``) before they
reach the database, opened when a worker reads its copy of the settings.

The keys are ``SETTINGS_SECRET_KEYS`` (Fernet keys, the first seals, every one opens, so
a key can be rotated: add the new one first, run ``backoffice settings reseal``, drop the
old one); without them one key is derived from ``SECRET_KEY`` with HKDF. A value no key
opens is left out (the config default applies) and logged once: the admin enters it again.
"""

from __future__ import annotations

import base64
import logging
from typing import Any, TypeGuard

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask

log = logging.getLogger(__name__)

PREFIX = "fernet:"
EXTENSION = "backoffice.sealer"
_DERIVATION = b"telehealth-backoffice practice settings v1"


class Sealer:
    """Seals and opens one installation's secret settings."""

    def __init__(self, keys: list[bytes]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._warned: set[str] = set()

    def seal(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, key: str, stored: str) -> str | None:
        """The plaintext of a sealed value; ``None`` when no configured key opens it."""
        try:
            return self._fernet.decrypt(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            if key not in self._warned:
                self._warned.add(key)
                log.error(
                    "the stored secret setting %s cannot be opened with the configured keys "
                    "(SETTINGS_SECRET_KEYS or SECRET_KEY changed?); enter it again in Settings",
                    key,
                )
            return None

    def reseal(self, stored: str) -> str:
        """A sealed value sealed again with the first key (``MultiFernet.rotate``)."""
        return PREFIX + self._fernet.rotate(stored.removeprefix(PREFIX).encode()).decode()


def is_sealed(stored: Any) -> TypeGuard[str]:
    return isinstance(stored, str) and stored.startswith(PREFIX)


def keys_of(config: dict[str, Any]) -> list[bytes]:
    configured = config.get("SETTINGS_SECRET_KEYS") or []
    if isinstance(configured, str):
        configured = [k for k in configured.split(",") if k.strip()]
    if configured:
        return [str(k).strip().encode() for k in configured]
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION).derive(
        str(config["SECRET_KEY"]).encode()
    )
    return [base64.urlsafe_b64encode(derived)]


def init_sealer(app: Flask) -> Sealer:
    """Bind the installation's sealer; a malformed configured key fails the boot."""
    try:
        sealer = Sealer(keys_of(app.config))
    except (ValueError, TypeError) as exc:
        raise RuntimeError(
            "SETTINGS_SECRET_KEYS must be Fernet keys (32 url-safe base64 bytes, e.g. from "
            "cryptography.fernet.Fernet.generate_key()): " + str(exc)
        ) from None
    app.extensions[EXTENSION] = sealer
    return sealer


def sealer_of(app: Flask) -> Sealer:
    """The sealer ``init_sealer`` bound (``init_settings`` does, at boot)."""
    found: Sealer = app.extensions[EXTENSION]
    return found
