"""Tables the database itself keeps append-only, for migrations (core's and plugins')."""

from __future__ import annotations

from alembic import op

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION {table}_forbid_changes() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{table} is {word}: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def forbid_row_changes(table: str, *, word: str = "append-only") -> None:
    """Make the database refuse UPDATE, DELETE (and TRUNCATE) on ``table``; the error says
    "<table> is <word>: <verb> refused". Call it in a migration's ``upgrade``."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION.format(table=table, word=word))
        op.execute(
            f"CREATE TRIGGER {table}_forbid_changes BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_forbid_changes()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_forbid_changes()"
        )
    elif dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is {word}: {verb} refused'); END"
            )
    else:
        raise NotImplementedError(f"append-only tables on {dialect} are not supported")


def allow_row_changes(table: str) -> None:
    """Undo :func:`forbid_row_changes` (in ``downgrade``, before dropping the table)."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_forbid_changes ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_forbid_changes()")
    elif dialect == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
