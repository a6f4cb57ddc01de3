"""Rate limits for plugins: join codes, patient chat, anything a stranger can repeat.

The counters live where the login limiter's do (``RATELIMIT_STORAGE_URI``: the Redis
message queue when one is configured, else this process's memory), so every worker
shares them. A moving window: "5 per minute" means no more than 5 in any 60 seconds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, jsonify, request
from limits import RateLimitItem, parse, storage, strategies

View = TypeVar("View", bound=Callable[..., Any])
EXTENSION = "backoffice.ratelimit"


@functools.lru_cache(maxsize=64)  # parsed once per text, not on every hit
def check_limit(limit: str) -> RateLimitItem:
    """The parsed limit, or ``ValueError`` naming the bad text (e.g. "5 per minute")."""
    try:
        return parse(limit)
    except ValueError as exc:
        raise ValueError(f"{limit!r} is not a rate limit such as '5 per minute'") from exc


def _limiter(app: Flask) -> strategies.MovingWindowRateLimiter:
    limiter = app.extensions.get(EXTENSION)
    if limiter is None:
        backend = storage.storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
        limiter = strategies.MovingWindowRateLimiter(backend)
        app.extensions[EXTENSION] = limiter
    return limiter


def within_limit(limit: str, *identifiers: str) -> bool:
    """Count one hit for ``identifiers``; false once the limit is reached."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return True
    item = check_limit(limit)
    return bool(_limiter(current_app).hit(item, "backoffice", *identifiers))


def client_address() -> str:
    return request.remote_addr or "unknown"


def rate_limited(
    limit: str | Callable[[], str], *, message: str, scope: str
) -> Callable[[View], View]:
    """Decorate a view: per client address, answer 429 with ``message`` over ``limit``.

    ``limit`` may be a callable (read config at request time); ``scope`` names the counter,
    so two views may share one.
    """
    if isinstance(limit, str):
        check_limit(limit)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def limited(*args: Any, **kwargs: Any) -> Any:
            text = limit() if callable(limit) else limit
            if not within_limit(text, scope, client_address()):
                response = jsonify(error=message)
                response.status_code = 429
                return response
            return view(*args, **kwargs)

        return limited  # type: ignore[return-value]

    return decorate
