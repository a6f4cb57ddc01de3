"""``backoffice reporting ...``: backfill visit records, recompute local times, seed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext

if TYPE_CHECKING:
    from core.api import DomainEvent


@click.group("reporting")
def reporting() -> None:
    """Reporting's visit records."""


@reporting.command("backfill")
@click.option("--rebuild", is_flag=True, help="Drop every visit record and build all anew.")
@with_appcontext
def backfill(rebuild: bool) -> None:
    """Build visit records of past visits from the plugins' history events."""
    from core.api import hook_results
    from plugins.reporting.service import backfill as run

    def history() -> Iterator[DomainEvent]:
        for _plugin, events in hook_results("backoffice_history_events"):
            yield from events

    added = run(history(), rebuild=rebuild)
    click.echo(f"Added {added} visit record(s).")


@reporting.command("relocalise")
@with_appcontext
def relocalise() -> None:
    """Recompute local dates and hours after the practice's time zone changed."""
    from plugins.reporting.service import relocalise as run

    click.echo(f"Recomputed {run()} visit record(s).")


@reporting.command("seed-visits")
@click.option("--visits", default=100_000, show_default=True, help="How many visits.")
@click.option("--days", default=365, show_default=True, help="Spread over this many days.")
@click.option("--seed", default=14, show_default=True, help="Random seed.")
@with_appcontext
def seed_visits(visits: int, days: int, seed: int) -> None:
    """Add synthetic visit records (for trying the reports at scale and the bench)."""
    from plugins.reporting.seed import seed_visits as run

    click.echo(f"Added {run(visits, days=days, seed=seed)} synthetic visit record(s).")
