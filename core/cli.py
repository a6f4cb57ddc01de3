"""The ``backoffice`` command.

Only ``config`` is imported at module level: ``backoffice run`` must monkey-patch the
standard library for eventlet or gevent before anything else imports it.
"""

from __future__ import annotations

import sys
import warnings

import config as default_config

#: eventlet warns in nine lines at import, in every process that imports it (make run has
#: three); ``backoffice run`` says what the mode is and how to change it in one line instead.
EVENTLET_WARNING = r"\s*Eventlet is deprecated"


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
    warnings.filterwarnings("ignore", message=EVENTLET_WARNING)
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        _patch_for(default_config.load()["ASYNC_MODE"])
    from core.commands import cli

    cli(prog_name="backoffice")


if __name__ == "__main__":
    main()
