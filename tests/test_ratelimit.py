"""The rate limits plugins get from core: counted per identifiers, shared by workers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from flask import Flask

from core.api import rate_limited, within_rate_limit
from tests.conftest import OwnRedis, login


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


# --- a Redis that goes away ---------------------------------------------------------------


def signed_in(app: Flask) -> bool:
    page = login(app.test_client(), "clinician1")
    return page.status_code == 200 and 'id="bo-username">clinician1<' in page.text


def wait_until_shared(*apps: Flask, timeout: float = 60.0) -> None:
    """Requests are what make a worker ask the storage again; keep sending cheap ones."""
    from core.ratelimit import limiter_state

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for app in apps:
            app.test_client().get("/login/")
            states.append(limiter_state(app))
        if states == ["shared"] * len(apps):
            return
        time.sleep(0.25)
    raise AssertionError(f"still not shared after {timeout}s: {states}")


def test_logins_and_limited_routes_outlive_redis_and_share_again_after(
    make_app: Callable[..., Flask], own_redis: OwnRedis
) -> None:
    from core.ratelimit import limiter_state

    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": own_redis.url,
        "AUTH_RATE_LIMIT": "3 per minute",
        "WAITING_ROOM_CODE_RATE_LIMIT": "2 per minute",
    }
    first, second = make_app(**settings), make_app(**settings)  # two workers
    assert signed_in(first) and limiter_state(first) == "shared"
    own_redis.stop()
    for app in (first, second):
        assert signed_in(app)
        assert app.test_client().get("/wait/no-such-practice").status_code == 404
        state = limiter_state(app)
        assert state.startswith("fallback: ") and "ConnectionError" in state, state
    with first.app_context():  # each worker goes on counting, in its own memory
        key = fresh_key()
        assert [within_rate_limit("2 per minute", key) for _ in range(3)] == [True, True, False]
    own_redis.start()  # empty: what was counted before the outage is gone
    wait_until_shared(first, second)
    guesses = [app.test_client().get("/wait/no-such-practice") for app in (first, second, first)]
    assert [answer.status_code for answer in guesses] == [404, 404, 429]
    wrong = [login(app.test_client(), "clinician2", "x") for app in (first, second, first)]
    assert [answer.status_code for answer in wrong] == [200, 200, 200]
    assert login(second.test_client(), "clinician2", "x").status_code == 429


def test_the_state_says_memory_without_a_shared_storage(make_app: Callable[..., Flask]) -> None:
    from core.ratelimit import limiter_state

    app = make_app(RATELIMIT_ENABLED=True)
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert limiter_state(app) == "memory"
