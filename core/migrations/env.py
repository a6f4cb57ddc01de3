"""Alembic environment: runs inside the app, against the app's engine."""

from __future__ import annotations

from alembic import context

from core.database import db, metadata

config = context.config


def run_migrations_online() -> None:
    with db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=config.attributes.get("include_object"),
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `backoffice db upgrade`")
run_migrations_online()
