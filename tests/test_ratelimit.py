"""The rate limits plugins get from core: counted per identifiers, shared by workers."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask import Flask

from core.api import rate_limited, within_rate_limit


def fresh_key() -> str:
    """Counters in Redis outlive a test run: every test counts under its own key."""
    return uuid.uuid4().hex


def test_a_limit_counts_hits_per_identifier(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATELIMIT_ENABLED=True)
    alice, bob = fresh_key(), fresh_key()
    with app.app_context():
        assert [within_rate_limit("3 per minute", "chat", alice) for _ in range(4)] == [
            True,
            True,
            True,
            False,
        ]
        assert within_rate_limit("3 per minute", "chat", bob)
        assert within_rate_limit("3 per minute", "other-counter", alice)


def test_limits_are_off_when_the_practice_turns_them_off(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATELIMIT_ENABLED=False)
    key = fresh_key()
    with app.app_context():
        assert all(within_rate_limit("1 per hour", key) for _ in range(5))


def test_a_limit_that_is_not_a_limit_is_refused_with_the_reason(
    make_app: Callable[..., Flask],
) -> None:
    with pytest.raises(ValueError, match="'often' is not a rate limit"):
        rate_limited("often", message="slow down", scope="x")
    app = make_app(RATELIMIT_ENABLED=True)
    with app.app_context(), pytest.raises(ValueError, match="not a rate limit"):
        within_rate_limit("3 per fortnight", fresh_key())


def test_a_limited_view_answers_429_with_its_message(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATELIMIT_ENABLED=True)
    scope = fresh_key()

    @rate_limited("2 per minute", message="Too many tries; wait a minute.", scope=scope)
    def probe() -> str:
        return "ok"

    with app.test_request_context(environ_base={"REMOTE_ADDR": "192.0.2.7"}):
        assert [probe(), probe()] == ["ok", "ok"]
        refused = probe()
        assert refused.status_code == 429
        assert refused.get_json() == {"error": "Too many tries; wait a minute."}
    with app.test_request_context(environ_base={"REMOTE_ADDR": "192.0.2.8"}):
        assert probe() == "ok"  # another address has its own count


def test_workers_share_the_counters_through_redis(
    make_app: Callable[..., Flask], redis_url: str
) -> None:
    first = make_app(RATELIMIT_ENABLED=True, SOCKETIO_MESSAGE_QUEUE=redis_url)
    second = make_app(RATELIMIT_ENABLED=True, SOCKETIO_MESSAGE_QUEUE=redis_url)
    key = fresh_key()
    with first.app_context():
        assert within_rate_limit("2 per minute", key)
    with second.app_context():
        assert within_rate_limit("2 per minute", key)
        assert not within_rate_limit("2 per minute", key)
    with first.app_context():
        assert not within_rate_limit("2 per minute", key)


def test_the_practice_time_zone_must_be_a_time_zone(make_app: Callable[..., Flask]) -> None:
    from core.api import practice_timezone

    app = make_app(PRACTICE_TIMEZONE="America/New_York")
    with app.app_context():
        assert practice_timezone().key == "America/New_York"
    with pytest.raises(ValueError, match="PRACTICE_TIMEZONE 'Mars/Olympus' is not a time zone"):
        make_app(PRACTICE_TIMEZONE="Mars/Olympus")
