"""The shared SQLAlchemy handle; every model (core's and plugins') uses FAB's ``Model`` base.

Also the engine settings: a pool sized for the async mode with a short timeout, so that a
burst waits a little and then fails fast with a 503 instead of queueing for ever, and
SQLite tuned so that a commit does not stall the event loop on a disk flush.
"""

from __future__ import annotations

from typing import Any

from flask_appbuilder import Model
from flask_appbuilder.models.sqla.base import SQLA
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

db = SQLA(model_class=Model)
metadata = Model.metadata

#: Connections per worker when DATABASE_POOL_SIZE is 0. Green workers run thousands of
#: handlers at once, but each holds a connection only for its few queries.
AUTO_POOL_SIZE = {"eventlet": 20, "gevent": 20, "threading": 10}

UNAVAILABLE_MESSAGE = (
    "The service is temporarily unavailable. Please wait a moment; this page will try again."
)


def engine_options(config: dict[str, Any]) -> dict[str, Any]:
    """SQLAlchemy engine arguments for this configuration's database and async mode."""
    uri = str(config["SQLALCHEMY_DATABASE_URI"])
    options: dict[str, Any] = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri in {"sqlite://", "sqlite:///:memory:"}:
        return options  # a single-connection pool: sizes do not apply
    size = int(config["DATABASE_POOL_SIZE"]) or AUTO_POOL_SIZE.get(config["ASYNC_MODE"], 10)
    options.setdefault("pool_size", size)
    options.setdefault("max_overflow", int(config["DATABASE_MAX_OVERFLOW"]))
    options.setdefault("pool_timeout", float(config["DATABASE_POOL_TIMEOUT"]))
    # A connection that died in an outage is replaced on checkout: recovery needs no restart.
    options.setdefault("pool_pre_ping", True)
    return options


def tune_engine(engine: Engine) -> None:
    """Per-connection settings the URL cannot carry."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        # WAL: readers never wait for the writer, and with synchronous=NORMAL a commit
        # does not fsync (a power cut may lose the last commits, never corrupt the file).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached now (an outage, a full pool),
    as opposed to a bug: the caller answers 503 and the next request tries again."""
    if isinstance(error, PoolTimeout | OperationalError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)
