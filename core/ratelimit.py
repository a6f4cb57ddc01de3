"""Rate limits for plugins: join codes, patient chat, anything a stranger can repeat.

The counters live where the login limiter's do (``RATELIMIT_STORAGE_URI``: the Redis
message queue when one is configured, else this process's memory), so every worker
shares them. A moving window: "5 per minute" means no more than 5 in any 60 seconds.

When the shared storage does not answer, each worker counts in its own memory instead
(limits stay on, per worker) and asks the storage again every ``RECHECK_SECONDS``; the
login limiter (Flask-Limiter, built by Flask-AppBuilder) does the same through its
``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED``. ``limiter_state`` says which is in use.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, jsonify, request
from limits import RateLimitItem, parse, storage, strategies
from limits.errors import StorageError

View = TypeVar("View", bound=Callable[..., Any])
Result = TypeVar("Result")
EXTENSION = "backoffice.ratelimit"
NAMESPACE = "backoffice"
#: How long a worker counting in memory waits before asking the shared storage again.
RECHECK_SECONDS = 2.0

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=64)  # parsed once per text, not on every hit
def check_limit(limit: str) -> RateLimitItem:
    """The parsed limit, or ``ValueError`` naming the bad text (e.g. "5 per minute")."""
    try:
        return parse(limit)
    except ValueError as exc:
        raise ValueError(f"{limit!r} is not a rate limit such as '5 per minute'") from exc


@dataclass
class Counters:
    """Moving-window counters in the shared storage, or in this worker's memory while the
    shared one does not answer (``problem`` says why)."""

    shared: strategies.MovingWindowRateLimiter | None
    memory: strategies.MovingWindowRateLimiter
    namespace: tuple[str, ...] = (NAMESPACE,)
    problem: str | None = None
    next_check: float = 0.0

    def run(self, use: Callable[[strategies.MovingWindowRateLimiter], Result]) -> Result:
        self.recover()
        if self.shared is not None and self.problem is None:
            try:
                return use(self.shared)
            except StorageError as exc:
                self._fail(exc.storage_error)
        return use(self.memory)

    def recover(self) -> None:
        """Back to the shared storage once it answers again (asked at most every few s)."""
        if self.shared is None or self.problem is None or time.monotonic() < self.next_check:
            return
        if self.shared.storage.check():
            log.warning("rate-limit storage answers again: counting is shared")
            self.problem = None
        else:
            self.next_check = time.monotonic() + RECHECK_SECONDS

    def _fail(self, error: Exception) -> None:
        self.problem = f"{type(error).__name__}: {error}"
        self.next_check = time.monotonic() + RECHECK_SECONDS
        log.warning("rate-limit storage unreachable, counting in memory: %s", self.problem)


def _counters(app: Flask) -> Counters:
    counters: Counters | None = app.extensions.get(EXTENSION)
    if counters is None:
        counters = app.extensions[EXTENSION] = _new_counters(app.config)
    return counters


def _new_counters(config: Any) -> Counters:
    memory = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
    # Flask-Limiter's key prefix keeps deployments that share one Redis apart: ours too.
    prefix = str(config.get("RATELIMIT_KEY_PREFIX") or "")
    namespace = (prefix, NAMESPACE) if prefix else (NAMESPACE,)
    uri = str(config["RATELIMIT_STORAGE_URI"])
    if uri.startswith("memory://"):
        return Counters(shared=None, memory=memory, namespace=namespace)
    options = dict(config.get("RATELIMIT_STORAGE_OPTIONS") or {})
    backend = storage.storage_from_string(uri, wrap_exceptions=True, **options)
    shared = strategies.MovingWindowRateLimiter(backend)
    return Counters(shared=shared, memory=memory, namespace=namespace)


def within_limit(limit: str, *identifiers: str) -> bool:
    """Count one hit for ``identifiers``; false once the limit is reached."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return True
    item = check_limit(limit)
    counters = _counters(current_app)
    return bool(counters.run(lambda c: c.hit(item, *counters.namespace, *identifiers)))


def limit_reached(limit: str, *identifiers: str) -> bool:
    """Whether the next hit would be refused, without counting one."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return False
    item = check_limit(limit)
    counters = _counters(current_app)
    return not counters.run(lambda c: c.test(item, *counters.namespace, *identifiers))


def limit_resets_at(limit: str, *identifiers: str) -> float:
    """When (epoch seconds) the oldest hit in the window expires and one more is allowed."""
    item = check_limit(limit)
    counters = _counters(current_app)
    stats = counters.run(lambda c: c.get_window_stats(item, *counters.namespace, *identifiers))
    return float(stats.reset_time)


def clear_limit(limit: str, *identifiers: str) -> None:
    """Forget every hit counted for ``identifiers`` (an unlocked account starts afresh)."""
    item = check_limit(limit)
    counters = _counters(current_app)
    counters.run(lambda c: c.clear(item, *counters.namespace, *identifiers))


def limiter_state(app: Flask | None = None) -> str:
    """``"shared"``, ``"fallback: <why>"`` (a worker counting in its own memory because the
    shared storage does not answer) or ``"memory"`` (no shared storage configured)."""
    app = app or current_app
    counters = _counters(app)
    if counters.shared is None:
        return "memory"
    counters.recover()
    problems = [p for p in (counters.problem, _login_limiter_problem(app)) if p]
    return f"fallback: {'; '.join(problems)}" if problems else "shared"


def _login_limiter_problem(app: Flask) -> str | None:
    """Flask-Limiter swaps its limiter for an in-memory one while its storage is down."""
    appbuilder = app.extensions.get("appbuilder")
    limiter = getattr(getattr(appbuilder, "sm", None), "limiter", None)
    if limiter is None or not getattr(limiter, "enabled", False):
        return None
    if not getattr(limiter, "_storage_dead", False):
        return None
    return "login limiter: storage unreachable"


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
