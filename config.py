"""Defaults for the back office. Every key can be overridden by a ``BACKOFFICE_<KEY>``
environment variable; the value is parsed according to the type of the default.

This module imports nothing heavy so the CLI can read ``ASYNC_MODE`` before it
monkey-patches the standard library for eventlet or gevent.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

ENV_PREFIX = "BACKOFFICE_"
INSTANCE_DIR = Path(os.environ.get("BACKOFFICE_INSTANCE_DIR", Path.cwd() / "instance"))

# --- The practice -----------------------------------------------------------
APP_NAME = "Telehealth Back Office"
PRACTICE_NAME = "Demo Behavioral Health"
#: IANA zone of the practice: calendars, appointment times in messages, reports.
PRACTICE_TIMEZONE = "UTC"
TELEHEALTH_ENABLED = True
PRACTICE_LOGO_URL = ""  # empty: the practice name stands in for a logo

# --- Server -----------------------------------------------------------------
HOST = "127.0.0.1"
PORT = 5000
ASYNC_MODE = "eventlet"  # eventlet | gevent | threading
# Eventlet's WSGI server caps concurrent connections at 1024 unless told otherwise.
MAX_CONNECTIONS = 4096
SOCKETIO_MESSAGE_QUEUE = ""  # e.g. redis://127.0.0.1:6379/0; empty means a single worker
SOCKETIO_CHANNEL = "backoffice"  # the Redis pub/sub channel; one per deployment
SOCKETIO_CORS_ALLOWED_ORIGINS: list[str] = []  # empty: same origin only
SECRET_KEY = ""  # generated into the instance folder when empty
# Fernet keys sealing secret practice settings at rest: the first seals, all open (key
# rotation); empty derives one from SECRET_KEY. See core/sealed.py.
SETTINGS_SECRET_KEYS: list[str] = []
# Proxies in front of the workers (e.g. 1 for one nginx) whose X-Forwarded-For/-Proto/-Host
# are trusted: rate limits and the audit log then see the patient's address, not nginx's.
TRUSTED_PROXIES = 0

# --- Database ---------------------------------------------------------------
SQLALCHEMY_DATABASE_URI = f"sqlite:///{INSTANCE_DIR / 'backoffice.db'}"
SQLALCHEMY_TRACK_MODIFICATIONS = False
# Connections per worker: 0 sizes the pool for the async mode (20 green, 10 threads).
DATABASE_POOL_SIZE = 0
DATABASE_MAX_OVERFLOW = 10
# Seconds a request waits for a free connection before it answers 503.
DATABASE_POOL_TIMEOUT = 5.0

# Flask-AppBuilder's file fields and download routes keep files here.
UPLOAD_FOLDER = ""  # empty: <instance>/uploads
IMG_UPLOAD_FOLDER = ""  # empty: <instance>/uploads/images

# Seconds a worker keeps its copy of the staff directory (who may log in, who is a
# clinician); a change made through this worker drops it at once.
STAFF_CACHE_TTL = 5.0

# --- Plugins ----------------------------------------------------------------
PLUGINS_ALLOW: list[str] = []  # empty: every installed plugin
PLUGINS_BLOCK: list[str] = []
# How long a worker trusts its cached copy of the plugin switches (seconds).
PLUGIN_STATE_TTL = 1.0
# How long a worker trusts its cached copy of the practice settings (seconds).
SETTINGS_TTL = 1.0

# --- Flask-AppBuilder -------------------------------------------------------
AUTH_TYPE = 1  # AUTH_DB
FAB_ADD_SECURITY_API = False
# FAB's menu API takes the login cookie on a CSRF-exempt route; nothing here uses it.
FAB_ADD_MENU_API = False
FAB_API_SWAGGER_UI = False
# Permissions are synced by `backoffice db upgrade`, not at every worker boot, so
# workers never race to create them and nothing is deleted behind an admin's back.
FAB_UPDATE_PERMS = False
# Add (never delete) the permissions and default grants of newly installed plugins at boot.
SYNC_PERMISSIONS_ON_BOOT = True
FAB_CREATE_DB = False
FAB_BASE_TEMPLATE = "backoffice/base.html"
FAB_INDEX_VIEW = "core.views.BackOfficeIndexView"
FAB_SECURITY_MANAGER_CLASS = "core.security.BackOfficeSecurityManager"
AUTH_ROLE_ADMIN = "Admin"
AUTH_ROLE_PUBLIC = "Public"
WTF_CSRF_ENABLED = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = False  # set True behind HTTPS
SESSION_IDLE_TIMEOUT = 30 * 60  # seconds without activity before automatic logoff
SESSION_IDLE_WARNING = 60  # seconds of warning before that
SESSION_LIFETIME = 12 * 3600  # absolute limit of one login
# Staff activity is written to the database at most this often (seconds), in one batch.
STAFF_ACTIVITY_FLUSH = 5.0
RATELIMIT_ENABLED = True
RATELIMIT_STORAGE_URI = ""  # empty: the Redis message queue when set, else memory
# A Redis that does not answer: each worker counts in its own memory until it is back.
RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
RATELIMIT_STORAGE_OPTIONS: dict[str, float] = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
AUTH_RATE_LIMITED = True
AUTH_RATE_LIMIT = "50 per 5 minute"  # login attempts per address (an office shares one)
AUTH_ACCOUNT_RATE_LIMIT = "10 per 5 minute"  # failed sign-ins per account, then it is locked

# --- Messaging --------------------------------------------------------------
MAIL_SERVER = "127.0.0.1"
MAIL_PORT = 25
MAIL_USE_TLS = False
MAIL_USE_SSL = False
MAIL_USERNAME = ""
MAIL_PASSWORD = ""
MAIL_DEFAULT_SENDER = "backoffice@localhost"
MAIL_TIMEOUT = 10
SMS_BACKEND = "outbox"  # outbox | http
SMS_HTTP_URL = ""  # Twilio-style endpoint: POST form From/To/Body with basic auth
SMS_HTTP_ACCOUNT = ""
SMS_HTTP_TOKEN = ""
SMS_FROM = "+15550000000"

# --- Patients ---------------------------------------------------------------
PATIENT_TOKEN_MAX_AGE = 12 * 3600
INVITE_TTL = 24 * 3600  # default lifetime of a patient invite link (seconds)
# The page a patient invite link opens; the waiting room plugin provides it.
INVITE_ENDPOINT = "waiting_room_patient.join"
# The page of an external join link (/wait/<code>); the waiting room plugin provides it.
JOIN_CODE_ENDPOINT = "waiting_room_patient.external"

# --- The dock: sites opened inside the back office -------------------------
# Menu sections whose pages open in the dock (the built-in Upload Site and Patient Portal).
DOCK_SECTIONS: list[str] = ["Upload Site", "Patient Portal"]
# External sites opened in the dock too, e.g. {"Lab results": "https://lab.example.org/"}.
DOCK_SITES: dict[str, str] = {}

# --- Demo -------------------------------------------------------------------
DEMO_PASSWORD = ""


class ConfigError(ValueError):
    """A setting that cannot work; the ``backoffice`` command prints it and exits."""


def _parse(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        if raw.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.strip().lower() in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(f"expected a boolean, got {raw!r}")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(default, dict):
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {raw!r}")
        return value
    return raw


def load(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Return every upper-case default of this module, overridden from the environment."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    for key, default in globals().items():
        if not key.isupper() or key in {"ENV_PREFIX"}:
            continue
        raw = environ.get(ENV_PREFIX + key)
        if raw is None:
            values[key] = default
            continue
        try:
            values[key] = _parse(raw, default)
        except ValueError as exc:
            raise SystemExit(f"{ENV_PREFIX}{key}: {exc}") from exc
    if ENV_PREFIX + "DATABASE_URL" in environ:
        values["SQLALCHEMY_DATABASE_URI"] = environ[ENV_PREFIX + "DATABASE_URL"]
    return values


def generated_secret_key(instance_dir: Path) -> str:
    """A per-installation secret kept in the instance folder, made on first use."""
    path = instance_dir / "secret_key"
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
