"""Practice settings: what a practice admin changes in Settings, kept in the database.

``config.py`` and ``BACKOFFICE_<KEY>`` stay the defaults; a key set in the environment is
locked (the environment wins, the form shows it read-only). Every worker keeps a copy of
the stored values and re-reads them at most every ``SETTINGS_TTL`` seconds (its
housekeeping does so every second), so a change reaches every worker within about two
seconds, the way plugin switches do, and a read never costs a query of its own.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import select

from config import ENV_PREFIX
from core import audit
from core.database import db
from core.models import PracticeSetting, utcnow
from core.sealed import init_sealer, is_sealed, sealer_of
from core.types import Setting

log = logging.getLogger(__name__)

SECRET_SHOWN = "(set; not shown)"
TYPES = ("str", "text", "int", "float", "bool", "choice", "secret")
#: Stored values that are not form fields (e.g. the navigation's order).
INTERNAL_PREFIX = "core."
#: Internal values read on demand (an image), never copied into each worker's settings,
#: which are read again every second.
BLOB_PREFIX = "core.blob."


def _time_zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def core_settings() -> list[Setting]:
    """The host's own practice settings."""
    practice, mail, sms = "Practice", "Email", "Text messages (SMS)"
    return [
        Setting("PRACTICE_NAME", "Practice name", section=practice),
        Setting(
            "PRACTICE_LOGO_URL",
            "Logo address",
            help="Address of the practice's logo image (https://... or /static/...), used "
            "when no logo is uploaded above; empty shows the practice name instead.",
            section=practice,
        ),
        Setting(
            "PRACTICE_TIMEZONE", "Time zone", "choice", choices=_time_zones(), section=practice
        ),
        Setting(
            "TELEHEALTH_ENABLED",
            "Telehealth",
            "bool",
            help="Off hides Start Telehealth Session on appointments.",
            section=practice,
        ),
        Setting("MAIL_SERVER", "Mail server (SMTP host)", section=mail),
        Setting("MAIL_PORT", "Mail server port", "int", section=mail, minimum=1),
        Setting("MAIL_USE_TLS", "Use STARTTLS", "bool", section=mail),
        Setting("MAIL_USE_SSL", "Use SSL/TLS", "bool", section=mail),
        Setting("MAIL_USERNAME", "Mail user name", section=mail),
        Setting("MAIL_PASSWORD", "Mail password", "secret", section=mail),
        Setting("MAIL_DEFAULT_SENDER", "Sender address", section=mail),
        Setting(
            "SMS_BACKEND",
            "SMS provider",
            "choice",
            choices=("outbox", "http"),
            help="outbox: messages are recorded, not delivered; http: a Twilio-style API.",
            section=sms,
        ),
        Setting("SMS_HTTP_URL", "Provider API address", section=sms),
        Setting("SMS_HTTP_ACCOUNT", "Provider account", section=sms),
        Setting("SMS_HTTP_TOKEN", "Provider token", "secret", section=sms),
        Setting("SMS_FROM", "Sender number", section=sms),
    ]


@dataclass(frozen=True)
class DeclaredSetting:
    """A setting and who declared it (``core`` or a plugin's name)."""

    setting: Setting
    owner: str
    section: str


class SettingError(ValueError):
    """A value the form refuses; ``field`` is the setting's key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


#: A worker whose housekeeping is not running (a test client, a stuck loop) re-reads the
#: settings in a request once its copy is this much older than the TTL.
STALE_FACTOR = 10.0


class SettingsCache:
    """This worker's copy of the stored settings.

    Read at boot; the server's housekeeping re-reads it every ``SETTINGS_TTL`` seconds, so
    requests never pay a query for it (and what a request costs does not depend on the
    clock). A request re-reads only a copy that housekeeping left ten TTLs old. One
    reader at a time: a handler never waits here while it holds a database connection.
    """

    def __init__(self, loader: Callable[[], dict[str, Any]], ttl: float) -> None:
        self._loader = loader
        self.ttl = ttl
        self._values: dict[str, Any] = {}
        self._loaded_at = float("-inf")
        self._generation = 0
        self._lock = threading.Lock()

    def values(self) -> dict[str, Any]:
        """The copy, for a request (re-read when never read or long stale)."""
        self._load_if_older(max(self.ttl * STALE_FACTOR, 10.0))
        return self._values

    def refresh(self) -> None:
        """Housekeeping: re-read when older than the TTL."""
        self._load_if_older(self.ttl)

    def _load_if_older(self, age: float) -> None:
        now = time.monotonic()
        if now - self._loaded_at <= age or not self._lock.acquire(blocking=False):
            return
        try:
            generation = self._generation
            loaded = self._loader()
            if generation == self._generation:  # nothing noted meanwhile
                self._values, self._loaded_at = loaded, now
        except Exception as exc:  # keep serving the last known values if the DB blips
            log.warning("could not read practice settings: %s", str(exc).splitlines()[0])
        finally:
            self._lock.release()

    def note(self, changes: dict[str, Any]) -> None:
        """Values this worker just committed: seen here at once (the next housekeeping
        re-reads them all)."""
        merged = {**self._values, **changes}
        self._values = {k: v for k, v in merged.items() if v is not None}
        self._generation += 1
        self._loaded_at = time.monotonic() - self.ttl - 1


def _loader(app: Flask) -> Callable[[], dict[str, Any]]:
    sealer = sealer_of(app)

    def load() -> dict[str, Any]:
        query = select(PracticeSetting.key, PracticeSetting.value).where(
            PracticeSetting.key.not_like(BLOB_PREFIX + "%")
        )
        if has_app_context():  # the request's own session: never a second connection
            rows = db.session.execute(query).all()
        else:
            with app.app_context():
                rows = db.session.execute(query).all()
                db.session.remove()
        values = {
            row.key: sealer.open(row.key, row.value) if is_sealed(row.value) else row.value
            for row in rows
        }
        return {key: found for key, found in values.items() if found is not None}

    return load


def init_settings(app: Flask) -> None:
    """Bind the cache (read now, when the database has its table) and note which keys the
    environment locks."""
    init_sealer(app)  # a malformed SETTINGS_SECRET_KEYS fails the boot, not a read
    cache = SettingsCache(_loader(app), float(app.config["SETTINGS_TTL"]))
    app.extensions["backoffice.settings"] = cache
    from sqlalchemy import inspect

    if inspect(db.engine).has_table(PracticeSetting.__tablename__):
        cache.refresh()
        db.session.rollback()  # give the connection back: boot holds one at a time
    app.extensions["backoffice.settings_locked"] = frozenset(
        name.removeprefix(ENV_PREFIX) for name in os.environ if name.startswith(ENV_PREFIX)
    )


def cache_of(app: Flask) -> SettingsCache:
    cache: SettingsCache = app.extensions["backoffice.settings"]
    return cache


def is_locked(key: str) -> bool:
    return key in current_app.extensions.get("backoffice.settings_locked", frozenset())


def value(key: str) -> Any:
    """The current value: the environment's when it locks the key, else the stored one,
    else the config default."""
    app = current_app
    cache: SettingsCache | None = app.extensions.get("backoffice.settings")
    if cache is not None and not is_locked(key):
        stored = cache.values()
        if key in stored:
            return stored[key]
    return app.config[key]


def stored(key: str) -> Any:
    """A value kept by the host itself (``core.*`` keys), or ``None``."""
    return cache_of(current_app).values().get(key)


# --- the declared settings -----------------------------------------------------------------


def declared() -> list[DeclaredSetting]:
    """Core's settings, then each enabled plugin's, in menu order."""
    from core.app import plugin_manager

    found = [DeclaredSetting(s, "core", s.section or "Practice") for s in core_settings()]
    plugins = plugin_manager()
    for name, settings in plugins.call_each("backoffice_settings"):
        record = plugins.records[name]
        for setting in settings or []:
            if isinstance(setting, Setting) and setting.type in TYPES:
                found.append(DeclaredSetting(setting, name, setting.section or record.title))
            else:
                log.warning("plugin %s declared an unusable setting %r", name, setting)
    return found


def default_of(item: DeclaredSetting) -> Any:
    if item.setting.default is not None:
        return item.setting.default
    return current_app.config.get(item.setting.key)


def register_defaults(app: Flask, settings: Iterable[DeclaredSetting]) -> None:
    """A plugin's declared default joins the config when no config key holds it."""
    for item in settings:
        if item.setting.key not in app.config:
            raw = os.environ.get(ENV_PREFIX + item.setting.key)
            default = item.setting.default
            if raw is not None:
                from config import _parse

                default = _parse(raw, default if default is not None else "")
            app.config[item.setting.key] = default


def parse(setting: Setting, raw: str | None) -> Any:
    """The form's text as the setting's type, passed by its ``check``; ``SettingError``
    says what is wrong."""
    parsed = _parse_as_type(setting, raw)
    problem = setting.check(parsed) if setting.check is not None and parsed != "" else None
    if problem:
        raise SettingError(setting.key, f"{setting.label}: {problem}")
    return parsed


def _parse_as_type(setting: Setting, raw: str | None) -> Any:
    text = "" if raw is None else str(raw)
    kind = setting.type
    if kind == "bool":
        return text.strip().lower() in {"1", "true", "on", "yes", "y"}
    if kind in {"int", "float"}:
        try:
            number: float = int(text.strip()) if kind == "int" else float(text.strip())
        except ValueError:
            raise SettingError(setting.key, f"{setting.label}: enter a number.") from None
        if setting.minimum is not None and number < setting.minimum:
            raise SettingError(
                setting.key, f"{setting.label}: must be at least {setting.minimum:g}."
            )
        return number
    if kind == "choice":
        if text not in setting.choices:
            raise SettingError(setting.key, f"{setting.label}: choose one of the listed values.")
        return text
    if kind == "text":
        return text.replace("\r\n", "\n").strip()
    return text.strip()


def save(form: dict[str, str], *, actor: str | None = None) -> list[str]:
    """Store what the form changed, audited, in one commit; the keys that changed.

    Locked keys are left alone; a secret left empty keeps its value (``<key>__clear``
    removes it). Every value is checked before anything is written.
    """
    changes: dict[str, Any] = {}
    items = declared()
    for item in items:
        setting = item.setting
        if is_locked(setting.key):
            continue
        if setting.type == "secret":
            if form.get(f"{setting.key}__clear"):
                changes[setting.key] = ""
            elif form.get(setting.key):
                changes[setting.key] = str(form[setting.key])
            continue
        shown = f"{setting.key}__shown" if setting.type == "bool" else setting.key
        if shown not in form:
            continue
        new = parse(setting, form.get(setting.key))
        if new != as_form_value(value(setting.key)):
            changes[setting.key] = new
    kinds = {item.setting.key: item.setting.type for item in items}
    _write(changes, kinds, actor)
    return sorted(changes)


def store_internal(
    values: dict[str, Any], *, actor: str | None = None, opaque: bool = False
) -> None:
    """Keep some of the host's own values (``core.*``), audited, in one commit; ``opaque``
    ones (an image) are audited as changed, without their values."""
    for key in values:
        if not key.startswith(INTERNAL_PREFIX):
            raise ValueError(f"internal settings start with {INTERNAL_PREFIX!r}")
    _write(values, dict.fromkeys(values, "opaque") if opaque else {}, actor)


def stored_blob(key: str) -> Any:
    """A ``core.blob.*`` value, read now (the workers' copies of the settings leave it out)."""
    row = db.session.get(PracticeSetting, key)
    return None if row is None else row.value


def reseal(*, actor: str | None = None) -> int:
    """Seal every stored secret again with the first key (and seal any stored before
    sealing existed), audited, in one commit; how many were sealed."""
    sealer = sealer_of(current_app)
    secrets = {item.setting.key for item in declared() if item.setting.type == "secret"}
    count = 0
    for row in db.session.scalars(select(PracticeSetting)):
        if is_sealed(row.value):
            if sealer.open(row.key, row.value) is None:
                continue  # unreadable: left for the admin to enter again
            row.value = sealer.reseal(row.value)
        elif row.key in secrets and isinstance(row.value, str) and row.value:
            row.value = sealer.seal(row.value)
        else:
            continue
        count += 1
        audit.record("setting.resealed", target=row.key, actor=actor, commit=False)
    db.session.commit()
    return count


def _write(changes: dict[str, Any], kinds: dict[str, str], actor: str | None) -> None:
    if not changes:
        return
    who = actor or audit.current_actor() or "system"
    rows = {
        row.key: row
        for row in db.session.scalars(
            select(PracticeSetting).where(PracticeSetting.key.in_(changes))
        )
    }
    sealer = sealer_of(current_app)
    for key, new in changes.items():
        secret = kinds.get(key) == "secret"
        before = None if key not in rows else rows[key].value
        row = rows.get(key) or PracticeSetting(key=key)
        row.value = sealer.seal(new) if secret and new else new
        row.changed_at, row.changed_by = utcnow(), who
        db.session.add(row)
        hidden = secret or kinds.get(key) == "opaque"
        details = (
            {"changed": True, "cleared": new in ("", None)}
            if hidden
            else {"before": before, "after": new}
        )
        audit.record("setting.changed", target=key, details=details, actor=actor, commit=False)
    db.session.commit()
    cache_of(current_app).note({k: v for k, v in changes.items() if not k.startswith(BLOB_PREFIX)})


# --- the form ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One field of the Settings form as the template shows it."""

    setting: Setting
    owner: str
    value: Any
    locked: bool
    is_set: bool  # secrets: whether a value is stored


def as_form_value(current: Any) -> Any:
    """A config list (e.g. of URLs) as the text field shows it: one item a line."""
    if isinstance(current, list | tuple):
        return "\n".join(str(item) for item in current)
    return current


def form_sections() -> list[tuple[str, list[Field]]]:
    sections: dict[str, list[Field]] = {}
    for item in declared():
        key = item.setting.key
        current = value(key) if key in current_app.config else default_of(item)
        secret = item.setting.type == "secret"
        sections.setdefault(item.section, []).append(
            Field(
                setting=item.setting,
                owner=item.owner,
                value=None if secret else as_form_value(current),
                locked=is_locked(key),
                is_set=bool(current) if secret else True,
            )
        )
    return list(sections.items())
