"""The host's own test setup.

The fixtures (databases per backend, apps, logins, Socket.IO clients, live servers, Redis,
an outbox and an SMTP capture) come from the installed pytest plugin
:mod:`core.testing.plugin`, the same one partners' tests use; the pieces they are made of
live in :mod:`core.testing` and are re-exported here for the tests that import them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.testing import (  # noqa: F401  (re-exported for the tests and bench/)
    BACKENDS,
    IN_CI,
    PG_URL,
    REDIS_URL,
    ROLE_USERS,
    TEST_PASSWORD,
    TEST_SECRET,
    DatabaseFactory,
    LiveServer,
    OwnRedis,
    base_overrides,
    csrf_token_from,
    free_port,
    live_login,
    login,
)

ROOT = Path(__file__).resolve().parent.parent
PARTNER_PLUGINS = Path(__file__).parent / "partner_plugins"


@pytest.fixture
def partner_plugins(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the test partner distribution (a real dist-info with entry points) on sys.path."""
    monkeypatch.syspath_prepend(str(PARTNER_PLUGINS))
    for name in list(sys.modules):
        if name.startswith("bo_partner_"):
            del sys.modules[name]
    return PARTNER_PLUGINS
