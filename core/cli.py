"""The ``backoffice`` command.

Only ``config`` is imported at module level: ``backoffice run`` must monkey-patch the
standard library for eventlet or gevent before anything else imports it.
"""

from __future__ import annotations

import sys

import config as default_config


def _patch_for(async_mode: str) -> None:
    if async_mode == "eventlet":
        import eventlet

        eventlet.monkey_patch()
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()
    elif async_mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        _patch_for(default_config.load()["ASYNC_MODE"])
    from core.commands import cli

    cli(prog_name="backoffice")


if __name__ == "__main__":
    main()
