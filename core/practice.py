"""The practice this deployment serves: its name and its time zone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config import ConfigError


def zone_named(name: str) -> ZoneInfo:
    """``ZoneInfo(name)``, or ``ConfigError`` saying which setting is wrong."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"PRACTICE_TIMEZONE {name!r} is not a time zone (try e.g. 'America/New_York')"
        ) from exc


def zone_of(config: Mapping[str, Any]) -> ZoneInfo:
    """The zone a configuration names (``PRACTICE_TIMEZONE``, UTC when empty)."""
    return zone_named(str(config["PRACTICE_TIMEZONE"] or "UTC"))


def practice_timezone() -> ZoneInfo:
    from core.practice_settings import value

    return zone_named(str(value("PRACTICE_TIMEZONE") or "UTC"))
