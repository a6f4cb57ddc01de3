"""The practice this deployment serves: its name and its time zone."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app

from config import ConfigError


def zone_named(name: str) -> ZoneInfo:
    """``ZoneInfo(name)``, or ``ConfigError`` saying which setting is wrong."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"PRACTICE_TIMEZONE {name!r} is not a time zone (try e.g. 'America/New_York')"
        ) from exc


def practice_timezone() -> ZoneInfo:
    return zone_named(str(current_app.config["PRACTICE_TIMEZONE"] or "UTC"))
