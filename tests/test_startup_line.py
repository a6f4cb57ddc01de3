"""``make run`` in eventlet mode: one clear line for the async mode, not eventlet's warning."""

from __future__ import annotations

from collections.abc import Callable

from core.commands import async_mode_line
from tests.conftest import LiveServer


def test_run_says_the_async_mode_once_and_eventlet_stays_quiet(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(async_mode="eventlet")
    log = server.log()
    assert log.count("Async mode: eventlet (the default") == 1, log
    assert "BACKOFFICE_ASYNC_MODE=gevent or threading" in log
    assert "deprecated" not in log.lower(), log
    for command in (("db", "upgrade"), ("seed-demo", "--if-empty")):
        done = server.cli(*command)
        assert done.returncode == 0, done.stderr
        assert "deprecated" not in (done.stdout + done.stderr).lower(), done.stderr


def test_each_mode_names_the_others() -> None:
    assert "BACKOFFICE_ASYNC_MODE=eventlet or threading" in async_mode_line("gevent")
    assert "BACKOFFICE_ASYNC_MODE=eventlet or gevent" in async_mode_line("threading")
